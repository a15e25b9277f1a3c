#!/usr/bin/env bash
# The GPU device check: the package's whole GPU path in one run of at most 9 minutes (README "GPU device check").
#
#   bash benchmarks/gpu/prepare.sh                   # once, on any machine with internet: benchmarks/gpu/prepared/
#   bash benchmarks/gpu/device_check.sh              # on the GPU host, from the repository root (offline is fine)
#   bash benchmarks/gpu/device_check.sh --dry-run    # the plan: phases, time limits, folders; runs nothing
#   bash benchmarks/gpu/device_check.sh --phases env,bench,pytest
#
# Made for a host with one GPU, Python and a CUDA build of torch, Triton and nvcc preinstalled, and no internet
# (it never installs torch; the package runs from src/ through PYTHONPATH). Phases, in order:
#   env        versions, GPU, cores; installs the carried wheels (snakemake, jsonschema, ...) into $WORK/site
#   build      starts building causal-conv1d and mamba-ssm in the background from the carried sdists, for this
#              GPU's target only (cuda_archs.py) and trimmed to the dtypes mambaicl uses (trim_kernels.py; TRIM=0: full)
#   bench      meanwhile: a training step per backbone without Mamba blocks, paper size, fp32 and bf16
#   fallback   meanwhile: the Mamba-containing backbones on the package's own scan
#   roofline   meanwhile: TF32 matmuls at the models' shapes (one run, a pack of 8) and elementwise kernels of 0.25 to
#              256 MB: the cost model's matmul and bandwidth efficiencies, measured (bench_roofline.py)
#   wait       waits for the build (at most until BUILD_DEADLINE s), installs the wheels, checks the kernels import
#   pytest     the CUDA tests: pytest -m cuda (tests/test_cuda.py, test_mamba.py, test_hybrids.py)
#   kernels    the Mamba-containing backbones on mamba-ssm's kernels, fp32 and bf16
#   triton     Mamba and RWKV on the package's Triton kernels (scan: triton), fp32
#   pack       every backbone as packs of 1, 4 and 8 runs (train.pack's vmapped step), fp32; the Mamba-containing
#              ones on mamba-ssm's kernels where they imported, else on Triton (scan: auto)
#   snakemake  a 301-step paper-config run of two trainings sharing the GPU, then their evaluation
#              (benchmarks/gpu/paper_short.yaml; outputs in results/gpu_check/)
#   share      several trainings at once on the GPU against one alone
# Every phase writes to $OUT as it goes, so a run cut short still reports: results.jsonl (one JSON line per
# measurement and phase), summary.md (rewritten after every phase), summary.log, phases.log, build_*.log,
# pytest_cuda.log, snakemake.log. Eight files, nothing else: some hosts hand back only a few files.
#
# Environment: OUT (default benchmarks/out/device_check), PREPARED (benchmarks/gpu/prepared), WORK (build trees,
# wheels, site; default /tmp/mambaicl_device_check), PYTHON (python3), DEADLINE (540 s: every phase ends by then),
# BUILD_DEADLINE (300 s), CUDA_ARCHS (native: this GPU), TRIM (1), MAX_JOBS (cores - 4), SHARE_COUNTS ("1 8"),
# BENCH_ARGS (extra arguments for bench_steps.py and share_gpu.py; "--tiny" tries the machinery on a CPU).
set -u -o pipefail
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/benchmarks/gpu
ALL_PHASES=(env build bench fallback roofline wait pytest kernels triton pack compile snakemake share)
OUT_FILES=(summary.md summary.log results.jsonl phases.log build_causal_conv1d.log build_mamba_ssm.log
           pytest_cuda.log snakemake.log)

usage() { sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

DRY_RUN=0
PHASE_ARG=${PHASES:-}
SKIP_ARG=""
while (($#)); do
  case $1 in
    --phases) PHASE_ARG=${2:?--phases needs a list}; shift 2 ;;
    --phases=*) PHASE_ARG=${1#*=}; shift ;;
    --skip) SKIP_ARG=${2:?--skip needs a list}; shift 2 ;;
    --skip=*) SKIP_ARG=${1#*=}; shift ;;
    --deadline) DEADLINE=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --dry-run|-n) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "device_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

OUT=${OUT:-$REPO/benchmarks/out/device_check}
PREPARED=${PREPARED:-$HERE/prepared}
WORK=${WORK:-${TMPDIR:-/tmp}/mambaicl_device_check}
PYTHON=${PYTHON:-python3}
DEADLINE=${DEADLINE:-540}
BUILD_DEADLINE=${BUILD_DEADLINE:-300}
CUDA_ARCHS=${CUDA_ARCHS:-native}
TRIM=${TRIM:-1}
SHARE_COUNTS=${SHARE_COUNTS:-1 8}
read -r -a BENCH_ARGS <<<"${BENCH_ARGS:-}"  # extra arguments for bench_steps.py and share_gpu.py (e.g. --tiny on a CPU)
# each phase's time limit in seconds (also capped by what is left before DEADLINE)
# (the 2026-11-30 H200 run ended kernels at 185 s and needed 59 s for snakemake and 95 s for share: with triton
# and pack at their limits, 185 + 45 + 120 + 59 + 95 = 504 s, within DEADLINE; compile (150 s, added 2026-12-02)
# pushes share, measured on 2026-11-30 already, past DEADLINE: it runs with what is left, or with --phases)
declare -A BUDGET=([bench]=100 [fallback]=60 [roofline]=30 [pytest]=110 [kernels]=60 [triton]=45 [pack]=120 [compile]=150
                   [snakemake]=170 [share]=200)

# ---- phase selection ------------------------------------------------------------------------------------------
is_phase() { local p; for p in "${ALL_PHASES[@]}"; do [[ $p == "$1" ]] && return 0; done; return 1; }
split() { tr ',' ' ' <<<"$1"; }
SELECTED=()
if [[ -n $PHASE_ARG ]]; then
  for p in $(split "$PHASE_ARG"); do
    is_phase "$p" || { echo "device_check.sh: unknown phase '$p' (phases: ${ALL_PHASES[*]})" >&2; exit 2; }
  done
fi
for p in $(split "$SKIP_ARG"); do
  is_phase "$p" || { echo "device_check.sh: unknown phase '$p' (phases: ${ALL_PHASES[*]})" >&2; exit 2; }
done
for p in "${ALL_PHASES[@]}"; do
  if [[ -n $PHASE_ARG ]] && ! [[ " $(split "$PHASE_ARG") " == *" $p "* ]]; then continue; fi
  [[ " $(split "$SKIP_ARG") " == *" $p "* ]] && continue
  SELECTED+=("$p")
done
# env sets up the Python path for every other phase, so it always runs
[[ " ${SELECTED[*]} " == *" env "* ]] || SELECTED=(env "${SELECTED[@]}")
selected() { [[ " ${SELECTED[*]} " == *" $1 "* ]]; }

if ((DRY_RUN)); then
  echo "device check plan (nothing runs with --dry-run)"
  echo "  repository: $REPO"
  echo "  OUT=$OUT  PREPARED=$PREPARED  WORK=$WORK  PYTHON=$PYTHON"
  echo "  DEADLINE=${DEADLINE}s BUILD_DEADLINE=${BUILD_DEADLINE}s CUDA_ARCHS=$CUDA_ARCHS TRIM=$TRIM SHARE_COUNTS='$SHARE_COUNTS'"
  for p in "${SELECTED[@]}"; do
    case $p in
      wait) limit="until ${BUILD_DEADLINE}s" ;; env|build) limit="-" ;; *) limit="${BUDGET[$p]}s" ;;
    esac
    echo "  phase $p (limit $limit)"
  done
  shopt -s nullglob
  sd=("$PREPARED"/sdists/*.tar.gz); wh=("$PREPARED"/wheels/*.whl)
  echo "  prepared: ${#sd[@]} sdists, ${#wh[@]} wheels$([[ -d $PREPARED ]] || echo " (no $PREPARED: run prepare.sh)")"
  exit 0
fi

cd "$REPO" || exit 2

# ---- records ----------------------------------------------------------------------------------------------------
mkdir -p "$OUT" "$WORK"
for f in "${OUT_FILES[@]}"; do rm -f "$OUT/$f"; done
RESULTS=$OUT/results.jsonl
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
log() { echo "[$(elapsed)s] $*" | tee -a "$OUT/summary.log"; }
record() { echo "{\"time\": $(date +%s), \"elapsed_s\": $(elapsed), $1}" >> "$RESULTS"; }
summarize() { timeout 30 "$PYTHON" "$HERE/report.py" summary --results "$RESULTS" --out "$OUT/summary.md" \
                >> "$OUT/phases.log" 2>&1 || true; }
left() { echo $(( DEADLINE - $(elapsed) )); }

BUILD_PIDS=()
cleanup() { local pid; for pid in "${BUILD_PIDS[@]}"; do kill -- -"$pid" 2>/dev/null; done; }
trap cleanup EXIT
trap 'log "interrupted"; summarize; exit 130' INT TERM

# run_phase NAME LOGFILE CMD... : runs CMD under the phase's time limit, output appended to LOGFILE
run_phase() {
  local name=$1 logfile=$2; shift 2
  selected "$name" || return 0
  local budget=${BUDGET[$name]} remaining; remaining=$(left)
  local limit=$(( budget < remaining ? budget : remaining ))
  if (( limit < 15 )); then
    log "phase $name skipped: ${remaining}s left"
    record "\"event\": \"phase_end\", \"name\": \"$name\", \"status\": \"skipped (no time)\", \"seconds\": 0"
    summarize; return 0
  fi
  log "phase $name (limit ${limit}s)"
  echo "===== phase $name: $* =====" >> "$logfile"
  local t0 rc status; t0=$(date +%s)
  timeout -k 5 "$limit" "$@" >> "$logfile" 2>&1; rc=$?
  case $rc in 0) status=ok ;; 124|137) status="timed out at ${limit}s" ;; *) status="failed (rc $rc)" ;; esac
  log "phase $name: $status"
  record "\"event\": \"phase_end\", \"name\": \"$name\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $(( $(date +%s) - t0 ))"
  summarize
}
end_phase() {  # NAME STATUS SECONDS, for the phases run_phase does not run
  local status=${2//\"/\'}
  log "phase $1: $status"
  record "\"event\": \"phase_end\", \"name\": \"$1\", \"status\": \"$status\", \"seconds\": $3"
  summarize
}

record "\"phase\": \"run\", \"event\": \"start\", \"phases\": \"${SELECTED[*]}\", \"deadline_s\": $DEADLINE"
log "device check: phases ${SELECTED[*]}; OUT=$OUT"

# ---- env: the carried wheels (the probe runs once the build has started) -------------------------------------------
t_env=$(date +%s)
SITE=$WORK/site
mkdir -p "$SITE"
shopt -s nullglob
CARRIED=("$PREPARED"/wheels/*.whl)
if ((${#CARRIED[@]})); then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --disable-pip-version-check \
      --target "$SITE" "${CARRIED[@]}" >> "$OUT/phases.log" 2>&1 \
    || log "installing the ${#CARRIED[@]} carried wheels failed (phases.log)"
else
  log "no carried wheels in $PREPARED/wheels (prepare.sh): snakemake and jsonschema must be installed already"
fi
export PYTHONPATH=$SITE:$REPO/src${PYTHONPATH:+:$PYTHONPATH}
export PATH=$SITE/bin:$PATH

NPROC=$(nproc 2>/dev/null || echo 4)
TS_BUILD=(); TS_BENCH=()
if ((NPROC >= 8)) && command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
  TS_BUILD=(taskset -c "4-$((NPROC - 1))"); TS_BENCH=(taskset -c 0-3)   # benchmarks keep 4 cores to themselves
fi
MAX_JOBS=${MAX_JOBS:-$(( NPROC > 6 ? NPROC - 4 : 2 ))}

# ---- build (background) --------------------------------------------------------------------------------------------
# unpack SDIST... : fresh source trees in $WORK/build, GPU targets set (and trimmed with TRIM=1)
unpack() {
  rm -rf "$WORK/build"; mkdir -p "$WORK/build"
  local sd; for sd in "$@"; do tar xzf "$sd" -C "$WORK/build" || return 1; done
  MAMBA_SRC=("$WORK"/build/mamba_ssm-*/); CONV_SRC=("$WORK"/build/causal_conv1d-*/)
  "$PYTHON" "$HERE/cuda_archs.py" --archs "$ARCHS" "${MAMBA_SRC[0]}" "${CONV_SRC[0]}" >> "$OUT/phases.log" 2>&1
}
BUILD_STARTED=0
ARCHS=$CUDA_ARCHS
if selected build; then
  t=$(date +%s)
  MAMBA_SD=("$PREPARED"/sdists/mamba_ssm-*.tar.gz); CONV_SD=("$PREPARED"/sdists/causal_conv1d-*.tar.gz)
  if [[ $ARCHS == native ]]; then
    ARCHS=$("$PYTHON" -c "import torch; print('{}.{}'.format(*torch.cuda.get_device_capability()))" 2>>"$OUT/phases.log")
  fi
  if ((${#MAMBA_SD[@]} != 1 || ${#CONV_SD[@]} != 1)); then
    end_phase build "failed: need one mamba_ssm and one causal_conv1d sdist in $PREPARED/sdists (prepare.sh)" 0
  elif [[ -z $ARCHS ]] || ! unpack "${MAMBA_SD[0]}" "${CONV_SD[0]}"; then
    end_phase build "failed: could not unpack the sdists or set the GPU target '$ARCHS' (phases.log)" $(( $(date +%s) - t ))
  else
    if [[ $TRIM == 1 ]] && ! "$PYTHON" "$HERE/trim_kernels.py" "${MAMBA_SRC[0]}" "${CONV_SRC[0]}" >> "$OUT/phases.log" 2>&1; then
      log "trimming failed (phases.log): building the full sources (slower)"; TRIM=failed
      unpack "${MAMBA_SD[0]}" "${CONV_SD[0]}"
    fi
    rm -rf "$WORK/wheels"; mkdir -p "$WORK/wheels"
    for src in "${CONV_SRC[0]}" "${MAMBA_SRC[0]}"; do
      pkg=$(basename "$src"); pkg=${pkg%%-*}
      # setsid: its own process group, so that cleanup stops nvcc and ninja too; $WORK/build/PKG.rc gets
      # "exit-status seconds" when it ends
      setsid bash -c 'cd "$1" && s=$(date +%s) &&
        env MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE MAX_JOBS="$2" "${@:6}" "$3" -m pip wheel -v \
          --no-deps --no-build-isolation --no-index --disable-pip-version-check -w "$4/wheels" . ;
        echo "$? $(( $(date +%s) - s ))" > "$4/build/$5.rc"' \
        _ "$src" "$MAX_JOBS" "$PYTHON" "$WORK" "$pkg" "${TS_BUILD[@]}" > "$OUT/build_$pkg.log" 2>&1 &
      BUILD_PIDS+=($!)
    done
    BUILD_STARTED=1
    record "\"phase\": \"build\", \"event\": \"started\", \"archs\": \"$ARCHS\", \"trim\": \"$TRIM\", \"max_jobs\": $MAX_JOBS"
    end_phase build "started in the background (targets $ARCHS, trim $TRIM, MAX_JOBS $MAX_JOBS)" $(( $(date +%s) - t ))
  fi
fi

# ---- env: the probe ------------------------------------------------------------------------------------------------
timeout 90 "${TS_BENCH[@]}" "$PYTHON" "$HERE/report.py" env --results "$RESULTS" --prepared "$PREPARED" --work "$WORK" \
  >> "$OUT/phases.log" 2>&1 || log "env probe failed (phases.log)"
end_phase env "ok ($(grep -c . "$RESULTS") records)" $(( $(date +%s) - t_env ))

# ---- while it builds -------------------------------------------------------------------------------------------------
BENCH=("${TS_BENCH[@]}" "$PYTHON" "$HERE/bench_steps.py" --out "$RESULTS" "${BENCH_ARGS[@]}")
run_phase bench "$OUT/phases.log" "${BENCH[@]}" --phase bench --group plain --precisions fp32 bf16 --profile \
  --steps 10 --warmup 3 --max-seconds 4
# no --profile: the own scan launches tens of thousands of kernels per step (spec 13), too many to trace quickly
run_phase fallback "$OUT/phases.log" "${BENCH[@]}" --phase fallback --group mamba --paths fallback \
  --precisions fp32 bf16 --steps 5 --warmup 1 --max-seconds 5
# still while it builds (the 2026-11-30 run waited 57 s for the build after fallback): what the cost model assumes
run_phase roofline "$OUT/phases.log" "${TS_BENCH[@]}" "$PYTHON" "$HERE/bench_roofline.py" --out "$RESULTS" "${BENCH_ARGS[@]}"

# ---- wait for the build, install, check ----------------------------------------------------------------------------------
if selected wait; then
  t=$(date +%s)
  if ((BUILD_STARTED)); then
    while (( $(elapsed) < BUILD_DEADLINE && $(elapsed) < DEADLINE )); do
      running=0; for pid in "${BUILD_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
      ((running)) || break
      sleep 3
    done
    cleanup  # a build still running at its deadline is stopped: its cores go back to the phases that follow
    for pkg in causal_conv1d mamba_ssm; do
      rc=null; secs=null; status="not finished by ${BUILD_DEADLINE}s (stopped)"
      if [[ -f $WORK/build/$pkg.rc ]]; then
        read -r rc secs < "$WORK/build/$pkg.rc"
        ((rc == 0)) && status=built || status="failed (rc $rc, build_$pkg.log)"
      fi
      whl=("$WORK"/wheels/${pkg}-*.whl); mib=null
      ((${#whl[@]})) && mib=$(du -m "${whl[0]}" | cut -f1)
      record "\"phase\": \"build\", \"package\": \"$pkg\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $secs, \"archs\": \"$ARCHS\", \"trim\": \"$TRIM\", \"wheel_mib\": $mib"
      # keep the verbose logs (every kernel's register report) within a few MB
      if [[ -f $OUT/build_$pkg.log ]] && (( $(stat -c %s "$OUT/build_$pkg.log") > 4000000 )); then
        tail -c 4000000 "$OUT/build_$pkg.log" > "$WORK/log.tmp" && mv "$WORK/log.tmp" "$OUT/build_$pkg.log"
      fi
    done
  fi
  whl=("$WORK"/wheels/*.whl)
  if ((${#whl[@]})); then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --disable-pip-version-check \
      --target "$SITE" "${whl[@]}" >> "$OUT/phases.log" 2>&1 || log "installing the built wheels failed"
  fi
  timeout 120 "$PYTHON" "$HERE/report.py" kernels --results "$RESULTS" >> "$OUT/phases.log" 2>&1
  kernels=$(tail -1 "$RESULTS" | grep -o '"kernels_available": [a-zA-Z]*' | cut -d' ' -f2)
  end_phase wait "done: kernels available ${kernels:-unknown}" $(( $(date +%s) - t ))
fi

# ---- after the build ----------------------------------------------------------------------------------------------------
run_phase pytest "$OUT/pytest_cuda.log" "$PYTHON" -m pytest -m cuda -q -rfEs -p no:cacheprovider \
  tests/test_cuda.py tests/test_mamba.py tests/test_hybrids.py
selected pytest && "$PYTHON" "$HERE/report.py" pytest --results "$RESULTS" --log "$OUT/pytest_cuda.log" \
  >> "$OUT/phases.log" 2>&1 && summarize

run_phase kernels "$OUT/phases.log" "$PYTHON" "$HERE/bench_steps.py" --out "$RESULTS" --profile "${BENCH_ARGS[@]}" --phase kernels \
  --group mamba --paths kernels --precisions fp32 bf16 --steps 10 --warmup 3 --max-seconds 5

# the first call compiles the Triton kernels (cached in ~/.triton for the pack phase): 3 warm-up steps
run_phase triton "$OUT/phases.log" "$PYTHON" "$HERE/bench_steps.py" --out "$RESULTS" --profile "${BENCH_ARGS[@]}" --phase triton \
  --pairs linear_regression:mamba linear_regression:rwkv --paths triton --precisions fp32 --steps 10 --warmup 3 \
  --max-seconds 4

# scan: auto picks mamba-ssm's kernels where they import, else Triton: the path the workflow's jobs would run.
# Every backbone (bench_steps.py's BY_BACKBONE), the Mamba-containing ones first (packing is for their runs
# above all), the slowest (S4, RWKV) last: a phase cut at its limit loses those.
run_phase pack "$OUT/phases.log" "$PYTHON" "$HERE/bench_steps.py" --out "$RESULTS" --profile "${BENCH_ARGS[@]}" --phase pack \
  --pairs linear_regression:mamba relu_nn:standard_hybrid relu_nn:mambaformer linear_regression:transformer \
  relu_nn:s4_park relu_nn:s4_mamba linear_regression:s4 linear_regression:rwkv \
  --paths auto --precisions fp32 --pack 1 4 8 --steps 5 --warmup 2 --max-seconds 1.5

# train.compile: eager, fused (inductor's Triton kernels), graphs (those replayed as CUDA graphs), each row's
# compilation in its warm-up steps (warmup_s); unpacked and packs of 8, Mamba first
run_phase compile "$OUT/phases.log" "$PYTHON" "$HERE/bench_steps.py" --out "$RESULTS" --profile "${BENCH_ARGS[@]}" \
  --phase compile --pairs linear_regression:mamba linear_regression:transformer --paths auto --precisions fp32 \
  --compile eager fused graphs --pack 1 8 --steps 5 --warmup 3 --max-seconds 1.5

if selected snakemake; then
  rm -rf results/gpu_check logs/gpu_check
  run_phase snakemake "$OUT/snakemake.log" "$PYTHON" -m snakemake --cores "$NPROC" --resources gpu_slots=2 \
    --configfile benchmarks/gpu/paper_short.yaml -- \
    results/gpu_check/eval/linear_regression/transformer/seed1/errors.npy \
    results/gpu_check/eval/linear_regression/mamba/seed1/errors.npy
  "$PYTHON" "$HERE/report.py" workflow --results "$RESULTS" --log "$OUT/snakemake.log" >> "$OUT/phases.log" 2>&1
  summarize
fi

run_phase share "$OUT/phases.log" "$PYTHON" "$HERE/share_gpu.py" --out "$RESULTS" --work "$WORK/share" "${BENCH_ARGS[@]}" \
  --pairs linear_regression:mamba linear_regression:transformer --counts $SHARE_COUNTS --seconds 8 \
  --until $(( T0 + DEADLINE - 5 ))

record "\"phase\": \"run\", \"event\": \"end\""
log "device check done in $(elapsed)s: $OUT/summary.md"
summarize
