#!/bin/bash
# one search per dataset; the greedy ensemble and the stack each packaged from it and scored on test
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/stackbench/paired.csv}
mkdir -p "$(dirname "$OUT")"
PYTHONPATH=$PWD .venv/bin/python benchmarks/results/2026-12-03-stacking/paired.py ../shared/datasets-more 60 "$OUT" \
  bangladesh_contraception,hmda_denial,resume_callback,caravan_insurance,help_substance,mlb_position,beps_vote,chile_plebiscite_vote,opt_birthweight,chds_birthweight,stackoverflow_salary,pc_price,alzheimers_csf,cell_segmentation,email_spam,hepatic_injury,olive_oil_area,epa_vehicle_class,forbes2000_industry,gm_car_price,concrete_strength,london_exam
