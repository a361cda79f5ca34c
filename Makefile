# visgen — every target that needs Python creates or refreshes .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export WANDB_MODE ?= offline
export HYDRA_FULL_ERROR ?= 0
comma := ,

.DEFAULT_GOAL := help
.PHONY: help install run test test-all bench lint format paper-table seen-table gzsl-table dna-encoders-table clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  make %-12s %s\n",$$1,$$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch/torchvision are pinned in pyproject.toml (the builds on this machine's disk).
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create or refresh .venv (torch 2.14.1, torchvision 0.29.1, dev extras)

run: $(STAMP) ## the main job: ForamSim + LTR pretraining + genetic alignment + KNN test (quick profile)
	$(BIN)/python run.py +experiment=ltr_align $(ARGS)

# Two workers, whole files each (module fixtures such as the selection=test pretrainings are built once); the
# suite's time is mostly single-threaded imports, spawns and tiny fits, which two processes overlap.
TEST_WORKERS ?= 2
test: $(STAMP) ## the import rules (pyproject's [tool.importlinter]), then the test suite (CPU; GPU tests skip)
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

bench: $(STAMP) ## benchmarks -> reports/bench/*.md (quoted in README)
	$(BIN)/python benchmarks/run_all.py $(ARGS)

# quick (CPU, the default): the rows behind the paper's claims and the anchor controls, seeds 0-2 — ltr, ltr_align and
# its shuffled / random / centred controls at λ 1 and 0 (one sweep), and the rtl_softmax baseline at λ 1 only (a
# second sweep; the claims need no baseline at λ = 0, and its 3 pretrainings would take the run past 60 min on
# 2 cores). 33 jobs, 9 pretrainings, 53 min measured. SEEDS=0 for a first look in a third of the time.
# GRID=full: every row of conf/sweep/paper_table.yaml (Table 1, the anchor controls, the rebalancing rows, ltr and
# ltr_align under protocol=authors, the contrastive alignment: 22 rows) x SEEDS, λ = 1 into multirun/paper_table_<profile>_full and λ = 0 into
# ..._full_lambda0, the two side by side with one thread each (as gzsl-table; they share no pretraining): 44 jobs and
# 14 pretrainings with SEEDS=0. After the λ = 1 half, so the directions get intervals, the rows they compare at λ = 1
# for REPLICATES (rtl_softmax, ltr, its anchor controls and rebalancing rows, ltr and ltr_align under protocol=authors,
# last: their pretraining is the slowest, ~16 min on one thread; ..._full_replicates). One report:
# reports/paper_table_<profile>_full.md. REPLICATES= skips them; REPLICATES=1,2 gives three seeds.
# GRID=full SEEDS=0 REPLICATES= PROFILE=quick_gzsl (32 px, 8 epochs): the whole grid in 25 min on 2 cores (measured
# before ltr_contrastive joined the grid).
# PROFILE=paper without GRID runs the 22 rows into multirun/paper_table_paper. See experiments/paper_table/README.md.
SEEDS ?= 0,1,2
REPLICATES ?= 1
REPLICATE_ROWS = rtl_softmax,ltr,ltr_logit_adjust,ltr_plain,ltr_align,ltr_align_shuffled,ltr_align_random,ltr_crt,ltr_ncm,ltr_tau_norm,ltr_align_centred,ltr_align_equiangular,ltr_authors,ltr_align_authors
PT_PROFILE = $(or $(PROFILE),quick)
PT_DIR = multirun/paper_table_$(PT_PROFILE)$(if $(GRID),_$(GRID))
PT_RUN = $(BIN)/python run.py -m +sweep=paper_table profile=$(PT_PROFILE) sweep_name=$(notdir $(PT_DIR))
QUICK_ROWS = ltr,ltr_align,ltr_align_shuffled,ltr_align_random,ltr_align_centred
paper-table: $(STAMP) ## the paper's Table 1 as a Hydra multirun (PROFILE=quick, GRID=full) -> reports/paper_table_*.md
ifeq ($(or $(GRID),$(filter-out quick,$(PT_PROFILE))),)
	$(BIN)/python run.py -m +sweep=paper_table profile=quick +experiment=rtl_softmax data.phylo_signal=1.0 \
	  seed=$(SEEDS) hydra.sweep.dir=multirun/paper_table_quick_baseline $(ARGS)
	$(BIN)/python run.py -m +sweep=paper_table profile=quick +experiment=$(QUICK_ROWS) seed=$(SEEDS) $(ARGS)
	$(BIN)/visgen report multirun/paper_table_quick multirun/paper_table_quick_baseline --out reports
else ifneq ($(GRID),)
	{ OMP_NUM_THREADS=1 $(PT_RUN) seed=$(SEEDS) data.phylo_signal=1.0 hydra.sweep.dir=$(PT_DIR) $(ARGS) \
	  $(if $(REPLICATES),&& OMP_NUM_THREADS=1 $(PT_RUN) seed=$(REPLICATES) data.phylo_signal=1.0 \
	  +experiment=$(REPLICATE_ROWS) hydra.sweep.dir=$(PT_DIR)_replicates $(ARGS)); } & pid=$$!; \
	OMP_NUM_THREADS=1 $(PT_RUN) seed=$(SEEDS) data.phylo_signal=0.0 hydra.sweep.dir=$(PT_DIR)_lambda0 $(ARGS); \
	rc=$$?; wait $$pid && test $$rc = 0
	$(BIN)/visgen report $(PT_DIR) $(PT_DIR)_lambda0 $(if $(REPLICATES),$(PT_DIR)_replicates) --out reports
else
	$(PT_RUN) seed=$(SEEDS) hydra.sweep.dir=$(PT_DIR) $(ARGS)
	$(BIN)/visgen report $(PT_DIR) --out reports
endif

# The rows the seen-species directions compare (rtl_softmax, ltr, ltr_align, ltr_align_shuffled) at 8 seeds, λ = 1,
# so that a 1-2 pp difference gets a t interval narrow enough to exclude zero (3 seeds gave ±17 pp on LTR's gain).
# quick_gzsl by default: 32 jobs, 16 pretrainings, 32 min on the 2-core VM (2026-12-03, shared with other jobs).
# SEEN_PROFILE=quick (64 px, where the 3-seed LTR gain was +6.7 pp) costs about 6x that.
SEEN_SEEDS ?= 0,1,2,3,4,5,6,7
SEEN_PROFILE ?= quick_gzsl
SEEN_DIR = multirun/paper_table_$(SEEN_PROFILE)_seeds8
seen-table: $(STAMP) ## the compared rows at 8 seeds (SEEN_PROFILE=quick_gzsl) -> reports/paper_table_<profile>_seeds8.md
	OMP_NUM_THREADS=1 $(BIN)/python run.py -m +sweep=paper_table profile=$(SEEN_PROFILE) \
	  +experiment=rtl_softmax,ltr,ltr_align,ltr_align_shuffled seed=$(SEEN_SEEDS) data.phylo_signal=1.0 \
	  callbacks.progress_bar=null hydra.sweep.dir=$(SEEN_DIR) sweep_name=$(notdir $(SEEN_DIR)) $(ARGS)
	$(BIN)/visgen report $(SEEN_DIR) --out reports

# GZSL / k-shot: 5 leave-species-out folds x λ {1, 0} x GZSL_SEEDS, profile quick_gzsl (32 px, 8 epochs:
# every fold and seed pretrains without its held-out species, so 20 pretrainings at seeds 0,1). The two λ halves run
# side by side, one thread each: on the shared 2-core machine two OpenMP threads per job spun against each other (6x
# slower, measured). Then the reports: reports/$(GZSL_NAME).md + .csv + _kshot.png, and the same cells as the peers'
# retrieval numbers in reports/retrieval_$(GZSL_NAME).md + .csv. See experiments/gzsl/README.md.
# A variant gets its own folder and report, e.g. the control without ForamSim's published morphology:
#   make gzsl-table GZSL_NAME=gzsl_quick_unpublished ARGS=data.sim_published=false
GZSL_SEEDS ?= 0,1
GZSL_NAME ?= gzsl_quick
GZSL_RUN = OMP_NUM_THREADS=1 $(BIN)/python run.py -m +sweep=gzsl profile=quick_gzsl seed=$(GZSL_SEEDS) \
  callbacks.progress_bar=null hydra.sweep.dir=multirun/$(GZSL_NAME)
GZSL_CMD = make gzsl-table$(if $(filter-out gzsl_quick,$(GZSL_NAME)), GZSL_NAME=$(GZSL_NAME))$(if $(ARGS), ARGS=$(ARGS))
gzsl-table: $(STAMP) ## GZSL table: folds x λ x seeds, anchor ladder x 2 methods -> reports/gzsl_quick.md
	$(GZSL_RUN) data.phylo_signal=1.0 $(ARGS) & pid=$$!; \
	$(GZSL_RUN) data.phylo_signal=0.0 $(ARGS); rc=$$?; wait $$pid && test $$rc = 0
	$(BIN)/python -m visgen.report.gzsl multirun/$(GZSL_NAME) --out reports --command "$(GZSL_CMD)"
	$(BIN)/python -m visgen.report.retrieval multirun/$(GZSL_NAME) --out reports --command "$(GZSL_CMD)"

# What each DNA encoder adds on unseen species: the GZSL grid (5 folds x DNA_SEEDS x λ 1/0, quick_gzsl) once per
# ForamSim generator tree (the k-mer tree built from the same 18S, and the independent fossil tree of Aze et al.
# 2011), ForamSim without its published morphology (where the tree positive control works), every encoder's rungs
# and their permutation nulls; one one-thread stream (and sweep folder) per tree and λ. Then
# reports/dna_encoders_quick.md. DNA_SEEDS=0..5 gives 30 cells per λ and tree, each DNA species held out in six of
# them (the verdicts' target). Wall times on the shared 2-core VM are in experiments/dna_encoders/README.md.
# DNA_DRAW=seed (default) draws a new ForamSim data set (species traits, specimens) per training seed, so the cells
# replicate the generator and not only training noise: with one draw for all 30 cells (DNA_DRAW=0, report
# dna_encoders_quick_draw0.md) SGT beat its own permutations at λ = 0, where the images carry no tree, a chance
# match between that one draw of traits and the DNA that every cell shared.
# The k-mer encoder's verdict rests on its centred rung alone: its 1024-d anchors make each of the null's 100 head
# refits compute-bound (~100 s per rung and cell here, two thirds of a cell), and its raw rung scored within noise of
# the centred one at 5 cells. The identity encoder's rungs have one dimension per species, so both of its nulls cost
# ~4 s per cell.
DNA_SEEDS ?= 0,1,2,3,4,5
DNA_TREES ?= kmer_upgma aze2011
DNA_LAMBDAS ?= 1.0 0.0
DNA_DRAW ?= seed
DNA_DRAW_TAG = $(if $(filter seed,$(DNA_DRAW)),,_draw$(DNA_DRAW))
DNA_ENC_DIRS = $(foreach t,$(DNA_TREES),$(foreach l,$(DNA_LAMBDAS),multirun/dna_encoders_quick_$(t)_l$(l)$(DNA_DRAW_TAG)))
DNA_ENC_RUN = OMP_NUM_THREADS=1 $(BIN)/python run.py -m +sweep=gzsl profile=quick_gzsl seed=$(DNA_SEEDS) \
  $(if $(DNA_DRAW_TAG),data.sim_seed=$(DNA_DRAW),'data.sim_seed=$${seed}') \
  data.sim_published=false 'gzsl.encoders=[sgt,kmer,aligned,identity]' \
  'gzsl.permutation.anchors=[sgt_raw,sgt_centred,kmer_centred,aligned_raw,aligned_centred,identity_raw,identity_centred]' \
  callbacks.progress_bar=null
DNA_ENC_NONDEFAULT = $(if $(filter-out 0$(comma)1$(comma)2$(comma)3$(comma)4$(comma)5,$(DNA_SEEDS)), DNA_SEEDS=$(DNA_SEEDS))$(if \
  $(filter-out kmer_upgma aze2011,$(DNA_TREES))$(filter-out 2,$(words $(DNA_TREES))), DNA_TREES='$(DNA_TREES)')$(if \
  $(DNA_DRAW_TAG), DNA_DRAW=$(DNA_DRAW))
dna-encoders-table: $(STAMP) ## unseen species by DNA encoder x generator tree x λ -> reports/dna_encoders_quick.md
	pids=; for t in $(DNA_TREES); do for l in $(DNA_LAMBDAS); do \
	  $(DNA_ENC_RUN) data.sim_tree=$$t data.phylo_signal=$$l \
	    hydra.sweep.dir=multirun/dna_encoders_quick_$${t}_l$${l}$(DNA_DRAW_TAG) $(ARGS) & pids="$$pids $$!"; \
	done; done; for p in $$pids; do wait $$p || exit 1; done
	$(BIN)/python -m visgen.report.dna_encoders $(DNA_ENC_DIRS) --out reports --stem dna_encoders_quick$(DNA_DRAW_TAG) \
	  --command "make dna-encoders-table$(DNA_ENC_NONDEFAULT)"

lint: $(STAMP) ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## remove run outputs and caches (keeps .venv)
	rm -rf outputs multirun .cache .pytest_cache .ruff_cache
