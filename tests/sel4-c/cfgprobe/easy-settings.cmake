# cfgprobe's top-level options (init-build.sh finds the project through this
# file). The kernel options are seL4's own: pass them with -D, e.g.
#   ../init-build.sh -DPLATFORM=x86_64 -DSIMULATION=TRUE -DKernelRootCNodeSizeBits=15
set(SIMULATION OFF CACHE BOOL "Build for simulation (QEMU)")
set(RELEASE OFF CACHE BOOL "Performance optimized build")
set(PLATFORM "x86_64" CACHE STRING "Platform")
set(KernelSel4Arch "" CACHE STRING "aarch32, aarch64, arm_hyp, ia32, x86_64, riscv32, riscv64")
