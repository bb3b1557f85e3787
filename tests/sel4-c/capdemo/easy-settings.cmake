# capdemo top-level build settings (read by init-build.sh via settings.cmake).
# Same knobs and defaults as the sel4test x86_64 simulation build:
#   ../init-build.sh -DPLATFORM=x86_64 -DSIMULATION=TRUE
set(SIMULATION OFF CACHE BOOL "Build for simulation (QEMU)")
set(RELEASE OFF CACHE BOOL "Performance optimized build")
set(VERIFICATION OFF CACHE BOOL "Only verification friendly kernel features")
set(PLATFORM "x86_64" CACHE STRING "Platform")
set(KernelSel4Arch "" CACHE STRING "aarch32, aarch64, arm_hyp, ia32, x86_64, riscv32, riscv64")
