#!/bin/bash
# The GPipe measurement of docs/distributed.md (Pipelines: micro-batches): ROUNDS rounds of each
# configuration of mlp4x1024.ir, each a `gcc-cli bench` median of 20 runs (rank 0's line under mpirun).
# Build first: dotnet build -c Release tools/gcc-cli. Usage: benchmarks/models/pipeline/measure.sh [ROUNDS]
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
G=$ROOT/tools/gcc-cli/bin/Release/net10.0/gcc-cli.dll
M=$ROOT/benchmarks/models/pipeline/mlp4x1024.ir
B="bench $M --warmup 3 --iterations 20"
# Root and containers (docs/distributed.md, Launching); waiting ranks yield their core instead of spinning.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_mpi_yield_when_idle=1
for round in $(seq 1 "${1:-5}"); do
  echo "round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "single-1thread $(dotnet "$G" $B --threads 1 | grep bench:)"
  echo "single-2threads $(dotnet "$G" $B --threads 2 | grep bench:)"
  for mb in 1 2 4 8; do
    echo "split-mb$mb $(mpirun --oversubscribe --bind-to none -np 2 dotnet "$G" $B --threads 1 --tasks 2 \
      --place '^layer[34]/=/job:worker/task:1/cpu:0' --micro-batches $mb 2>&1 | grep bench: | head -1)"
  done
done
