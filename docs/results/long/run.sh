#!/bin/bash
# One row of the 3,000-step tables in docs/results.md: train, then evaluate model-best on test.
#
# usage (from the repository root, venv active):
#   [SEED=0] [ELMO=default] [CORPUS=corpus] [OUT=training/long] \
#     bash docs/results/long/run.sh NAME CONFIG TASK STEPS
#   e.g. SEED=1 bash docs/results/long/run.sh tagger_baseline_s1 tagger_baseline tagger 3000
#
# CONFIG is a file name in configs/ without .cfg; TASK is "tagger" (UD English-EWT
# UPOS) or "ner" (WNUT-17). CORPUS must hold what `python -m weasel run corpus`
# writes (ud-{train,dev,test}.spacy, wnut-test.spacy). ELMO is passed as
# --paths.elmo to configs that have it (a preset or a pretrain model-best/).
# Writes OUT/NAME/ (the pipelines), OUT/NAME.jsonl (scores per evaluation),
# OUT/NAME.json (test scores) and OUT/NAME.log. One thread per job.
set -e
if [ $# -ne 4 ] || [ ! -f "configs/$2.cfg" ] || { [ "$3" != tagger ] && [ "$3" != ner ]; }; then
  echo "usage: run.sh NAME CONFIG TASK STEPS (from the repository root; configs/CONFIG.cfg must exist; TASK: tagger or ner)" >&2
  exit 2
fi
name=$1; cfg=$2; task=$3; steps=$4
corpus=${CORPUS:-corpus}; out=${OUT:-training/long}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
if [ "$task" = tagger ]; then
  tr=$corpus/ud-train.spacy; dv=$corpus/ud-dev.spacy; te=$corpus/ud-test.spacy
else
  tr=../shared/data/wnut17/wnut17train.conll; dv=../shared/data/wnut17/emerging.dev.conll; te=$corpus/wnut-test.spacy
fi
extra=()
if [ -n "$ELMO" ] && grep -q '^elmo = ' "configs/$cfg.cfg"; then extra=(--paths.elmo "$ELMO"); fi
mkdir -p "$out"
python -m spacy train "configs/$cfg.cfg" --output "$out/$name" --paths.train "$tr" --paths.dev "$dv" \
  --training.max_steps "$steps" --training.eval_frequency 500 --training.patience 0 --system.seed "${SEED:-0}" \
  --paths.train_log "$out/$name.jsonl" "${extra[@]}" > "$out/$name.log" 2>&1
python -m spacy evaluate "$out/$name/model-best" "$te" --output "$out/$name.json" >> "$out/$name.log" 2>&1
echo "done $name"
