#!/usr/bin/env bash
# Quick UINTR smoke test: ./run.sh [path/to/qemu-system-x86_64]
# (default: the binary build.sh produces).  Needs gcc/binutils.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
qemu=${1:-$("$here/../build.sh")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -c -o "$tmp/smoke.o" "$here/smoke.S"
ld -m elf_x86_64 --no-warn-rwx-segments -T "$here/link.ld" -o "$tmp/smoke64.elf" "$tmp/smoke.o"
objcopy -O elf32-i386 "$tmp/smoke64.elf" "$tmp/smoke.elf"   # QEMU multiboot wants ELF32
rc=0
for cpu in "Nehalem" "Nehalem,+uintr" "qemu64,+uintr" "max" "Nehalem,+uintr -smp 2" \
           "max -smp 4 -accel tcg,thread=multi" "Nehalem,+uintr -smp 2 -accel tcg,thread=single" "Nehalem,+uintr -icount shift=0" "Nehalem,+uintr -smp 2 -icount shift=7"; do
    set +e
    out=$(timeout 60 "$qemu" -M pc -display none -serial stdio -no-reboot \
          -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$tmp/smoke.elf" \
          -cpu $cpu 2>&1)
    r=$?
    set -e
    echo "[-cpu $cpu] $(grep -v "smoke start" <<<"$out" | tr "\n" " ")"
    [ $r = 1 ] || rc=1      # isa-debug-exit: (0 << 1) | 1
done
exit $rc
