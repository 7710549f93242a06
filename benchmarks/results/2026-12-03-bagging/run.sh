#!/bin/bash
# before (d962dc5) and after (bagging) side by side, one dataset at a time, alternating arms
cd /work/main
PY=/work/main/.venv/bin/python
for D in help_substance mlb_position opt_birthweight chile_plebiscite_vote grant_applications bangladesh_contraception chds_birthweight hepatic_injury epa_vehicle_class forbes2000_industry alzheimers_csf cell_segmentation concrete_strength olive_oil_area; do
  (cd /tmp/wt-0 && PYTHONPATH=/tmp/wt-0 $PY -m automl.cli bench run /work/shared/datasets-more --budget 60 --frameworks automl --datasets $D -o /tmp/bench/before) >> /tmp/bench/log 2>&1
  (cd /work/main && PYTHONPATH=/work/main $PY -m automl.cli bench run /work/shared/datasets-more --budget 60 --frameworks automl --datasets $D -o /tmp/bench/after) >> /tmp/bench/log 2>&1
  echo "$(date +%T) done $D" >> /tmp/bench/progress
done
echo ALLDONE >> /tmp/bench/progress
