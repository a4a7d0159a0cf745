#!/bin/bash
# usage: run.sh NAME CONFIG TASK STEPS
set -e
cd /work/main && source .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
name=$1; cfg=$2; task=$3; steps=$4
if [ "$task" = tagger ]; then
  tr=/work/runs/proj/corpus/ud-train.spacy; dv=/work/runs/proj/corpus/ud-dev.spacy; te=/work/runs/proj/corpus/ud-test.spacy
else
  tr=../shared/data/wnut17/wnut17train.conll; dv=../shared/data/wnut17/emerging.dev.conll; te=/work/runs/proj/corpus/wnut-test.spacy
fi
python -m spacy train configs/$cfg.cfg --output /work/runs/long/$name --paths.train $tr --paths.dev $dv \
  --training.max_steps $steps --training.eval_frequency 500 --training.patience 0 --system.seed ${SEED:-0} --paths.train_log /work/runs/long/$name.jsonl > /work/runs/long/$name.log 2>&1
python -m spacy evaluate /work/runs/long/$name/model-best $te --output /work/runs/long/$name.json >> /work/runs/long/$name.log 2>&1
echo done $name
