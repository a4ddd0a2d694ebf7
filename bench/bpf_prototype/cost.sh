#!/bin/bash
# The 20-deep bench workload's own CPU seconds for fixed work, unprofiled and under this
# prototype, sampler and perf, alternating. usage: cost.sh ROUNDS REPEATS (root; build first).
set -u
cd "$(dirname "$0")"
rounds=$1
repeats=$2
PY=$(pyenv root)/versions/3.12.1/bin/python3
for r in $(seq "$repeats"); do
    for mode in none bpf sampler perf; do
        /usr/bin/time -f "%U %S" -o t.txt "$PY" ../../tests/fixtures/python_bench/workload.py "$rounds" --depth 20 \
            > /dev/null 2>&1 &
        sleep 1
        P=$(pgrep -n -f "python_bench/workload.py $rounds")
        case $mode in
            bpf) ./proto "$P" 1000 60 $(python3 tstates.py "$P") > p.txt 2>&1 ;;
            sampler) ../../build/src/sampler record --pid "$P" -r 1000 -d 60 -o s.folded > p.txt 2>&1 ;;
            perf) perf record -q -F 1000 -g --call-graph dwarf -p "$P" -o perf.data > p.txt 2>&1 ;;
        esac
        wait
        read -r u s < t.txt
        echo "$mode user=$u sys=$s total=$(echo "$u + $s" | bc)"
    done
done
