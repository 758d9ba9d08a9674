#!/usr/bin/env bash
# The runs behind the committed leaderboards: small preset, 3 seeds each, on a CPU.
#   bash leaderboards/reproduce.sh RESULTS_DIR [GROUP ...]
#   ucdbench leaderboard --results RESULTS_DIR --out leaderboards
# GROUP is one or more of: compression adaptive attack pydocs textshift scene genie (default: all). Every run is
# cached by its key, so an interrupted script picks up where it stopped.
set -euo pipefail
results=${1:?usage: reproduce.sh RESULTS_DIR [GROUP ...]}
shift
groups=${*:-compression adaptive attack pydocs textshift scene genie}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
run() { ucdbench run --preset small --seed 0 1 2 --results "$results" "$@"; }
MLP=(--set task.model=mlp --set task.classes=0-9 --set task.pretrain_classes=none)
CNN=(--set task.model=cnn --set task.width=16 --set task.classes=0-9 --set task.pretrain_classes=none)
CODE=(--task pydocs --set task.dataset=pysource)       # the pydoc-prose base adapted to stdlib Python source
FIT=(--set epochs=8 --set batch_size=16)               # 250 steps on 64 KB of code

for group in $groups; do
  case $group in
    compression)  # MCNC vs PRANC vs NOLA at equal stored scalars, from scratch: MLP ~0.19%, CNN ~1%
      run --task mnist --method mcnc "${MLP[@]}"                       # k = 8, d = 5000: 117 scalars
      run --task mnist --method mcnc --set activation=none "${MLP[@]}" # the sine ablation
      run --task mnist --method pranc --set bases=117 "${MLP[@]}"      # 117 coefficients, θ0's included
      run --task mnist --method nola --set mode=scratch --set k=6 --set l=6 --set rank=4 --set lr=0.02 --set epochs=60 "${MLP[@]}"
      run --task mnist --method full-ft --set pretrained=false --set epochs=60 "${MLP[@]}"
      run --task mnist --method mcnc --set k=9 --set d=1000 "${CNN[@]}"   # 99 chunks × 10 = 990
      run --task mnist --method pranc --set bases=510 "${CNN[@]}"         # 510 + 480 dense BatchNorm affine = 990
      run --task mnist --method nola --set mode=scratch --set k=35 --set l=36 --set lr=0.02 --set epochs=60 "${CNN[@]}"  # 994
      run --task mnist --method full-ft --set pretrained=false --set epochs=60 "${CNN[@]}"
      ;;
    adaptive)     # SimA vs softmax; A-ViT and ATS really dropping tokens
      run --task digits --method sima softmax-vit avit ats full-ft   # full-ft: the dense fine-tuned ViT
      run --task mnist --method sima softmax-vit avit ats full-ft
      ;;
    attack)       # SlowFormer against A-ViT and ATS; adversarial training as the defence
      run --task mnist --method slowformer --set target=avit,ats
      run --task digits --method slowformer --set target=avit,ats
      run --task mnist --method slowformer --set target=avit --set defense=adv-train
      run --task digits --method slowformer --set target=avit --set defense=adv-train --set area=0.25
      ;;
    pydocs)       # adapters on the in-suite byte GPT-2
      run --task pydocs --method base
      run --task pydocs --method lora --set rank=1
      run --task pydocs --method nola --set k=64 --set l=64
      ;;
    textshift)    # adapters where adaptation matters: prose → code; stored numbers after each (LoRA r=1: 2,048)
      run "${CODE[@]}" --method base
      run "${CODE[@]}" --method full-ft "${FIT[@]}" --set lr=1e-3                         # 842,624
      run "${CODE[@]}" --method lora --set rank=1 "${FIT[@]}" --set lr=1e-2              # 2,048
      run "${CODE[@]}" --method lora --set rank=4 "${FIT[@]}" --set lr=3e-2              # 8,192 (alpha/r: a quarter of r=1's)
      run "${CODE[@]}" --method nola --set k=64 --set l=64 "${FIT[@]}" --set lr=2e-2     # 1,024: half of LoRA r=1's
      run "${CODE[@]}" --method nola --set k=26 --set l=26 "${FIT[@]}" --set lr=2e-2     # 416: a fifth
      run "${CODE[@]}" --method vera "${FIT[@]}" --set lr=0.3                            # 1,792
      run "${CODE[@]}" --method mcnc --set mode=adapter --set k=8 --set d=72 "${FIT[@]}" --set lr=0.1  # 1,026
      ;;
    scene)        # CompGS and its baselines on the embedded scene
      run --task scene --method compgs gs-kmeans-post gs-half gs-int8 gs-uncompressed
      ;;
    genie)        # GeNIe and GeNIe-Ada against every baseline: 5-way 1-shot and 5-shot episodes of novel digits 5-9
      run --task fewshot --method genie genie-ada txt2img img2img mixup cutmix fewshot-none --set task.k_shot=1,5
      run --task fewshot --method img2img --set ratio=0.3 --set task.k_shot=1,5   # the official script's low-noise img2img
      ;;
    *) echo "unknown group $group (compression adaptive attack pydocs textshift scene genie)" >&2; exit 2 ;;
  esac
done
