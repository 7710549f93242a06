#!/bin/bash
PY=/work/main/.venv/bin/python
for D in help_substance forbes2000_industry mlb_position olive_oil_area hmda_denial gm_car_price chds_birthweight cell_segmentation caravan_insurance hepatic_injury; do
  (cd /tmp/wt-0 && PYTHONPATH=/tmp/wt-0 $PY -m automl.cli bench run /work/shared/datasets-more --budget 60 --frameworks automl --datasets $D -o /tmp/sb2/before) >> /tmp/sb2/log 2>&1
  (cd /work/main && PYTHONPATH=/work/main $PY -m automl.cli bench run /work/shared/datasets-more --budget 60 --frameworks automl --datasets $D -o /tmp/sb2/after) >> /tmp/sb2/log 2>&1
  echo "$(date +%T) done $D" >> /tmp/sb2/progress
done
echo ALLDONE >> /tmp/sb2/progress
