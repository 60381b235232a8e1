# iolab: server I/O models on Linux, side by side.   `make help` lists the targets.
#
# Everything is built into $(BUILD)/:
#   $(BUILD)/checker            the grader (and short_io_shim.so, which it preloads into servers)
#   $(BUILD)/solutions/MODEL    reference servers
#   $(BUILD)/labs/MODEL         your servers

BUILD    ?= build
SRC      ?= labs
LAB      ?=
SANITIZE ?=
# How much of each model the students write: 1, 2 or 3 (docs/instructors.md, "Levels").
LEVEL    ?= 1

CXX      := g++
CPPFLAGS := -Ilabs/common -MMD -MP
CXXFLAGS := -std=c++20 -g -pthread -Wall -Wextra -Wpedantic -Wshadow
LDFLAGS  := -pthread
ifeq ($(SANITIZE),)
  # _FORTIFY_SOURCE turns an FD_SET() beyond FD_SETSIZE into a loud abort.
  CXXFLAGS += -O2 -D_FORTIFY_SOURCE=2
else
  CXXFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=$(SANITIZE) -fno-sanitize-recover=all
  LDFLAGS  += -fsanitize=$(SANITIZE)
endif
# Warnings are errors everywhere except in the labs, where unfinished work must still build.
STRICT   := -Werror
LAB_FLAGS := -Wno-unused-parameter -Wno-unused-function

COMMON_OBJ   := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(wildcard labs/common/*.cpp))
MODELS       := $(patsubst solutions/%/server.cpp,%,$(wildcard solutions/*/server.cpp))
LABS         := $(patsubst labs/%/server.cpp,%,$(wildcard labs/*/server.cpp))
SOLUTIONS    := $(MODELS:%=$(BUILD)/solutions/%)
LAB_SERVERS  := $(LABS:%=$(BUILD)/labs/%)
# The checker's list of models, generated from the one list, labs/models.txt.
MODELS_CPP   := $(BUILD)/gen/models.cpp
CHECKER_OBJ  := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(filter-out checker/main.cpp,$(wildcard checker/*.cpp checker/*/*.cpp))) \
                $(BUILD)/obj/gen/models.o
FIXTURES     := $(patsubst tests/fixtures/%.cpp,$(BUILD)/fixtures/%,$(wildcard tests/fixtures/*.cpp))
# Code that only the broken servers of tests/fixtures use (not shipped to students).
FIXTURE_SUPPORT_OBJ := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(wildcard tests/fixtures/support/*.cpp))
TEST_OBJ     := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(wildcard tests/*.cpp tests/unit/*.cpp tests/integration/*.cpp))
DEPS_OK      := $(BUILD)/.deps-ok

.PHONY: all help deps grade test sanitize tsan tsan-run stubs clean handout gradescope batch format format-check
.DEFAULT_GOAL := all
# Keep object files: they are intermediate to make, but rebuilding them costs minutes.
.SECONDARY:

# The handout (make handout) ships without solutions/: the targets that need
# them say so in one line.
NEEDS_SOLUTIONS := test sanitize tsan stubs handout gradescope compare
ifeq ($(MODELS),)
  ifneq ($(filter $(NEEDS_SOLUTIONS),$(MAKECMDGOALS)),)
    $(error make $(filter $(NEEDS_SOLUTIONS),$(MAKECMDGOALS)) needs the kit's solutions/, which the handout does not include: make grade grades your labs)
  endif
endif

all: $(BUILD)/checker $(SOLUTIONS) $(LAB_SERVERS)  ## build the checker, the solutions and your labs

help:  ## list the targets
	@echo "make                  build the checker, the reference solutions and your labs"
	@echo "make grade            grade your labs (labs/): one table, lab by lab"
	@echo "make grade LAB=blocking            grade one lab"
	@echo "make grade SRC=solutions           grade the reference solutions"
	@echo "build/checker talk --port 8080     try a server by hand: each line you type, its reply and how long it took"
	@echo "make test             unit and integration tests of the kit"
	@echo "make sanitize         the tests again, built with AddressSanitizer + UBSan (build/asan)"
	@echo "make tsan             the threaded solutions graded, and checker bench run, under ThreadSanitizer (build/tsan)"
	@echo "make stubs            regenerate labs/*/server.cpp from the solutions' LAB regions"
	@echo "make stubs LEVEL=2    the labs at level 2 (or 3) in $(BUILD)/stubs/level-2, to review"
	@echo "make slides           the lecture: build/slides/lecture.html (and .pdf with Chromium)"
	@echo "make slides-check     build the lecture and check every slide in headless Chromium"
	@echo "make slides-sync      copy the current code and timelines into slides/ (after a solution changed)"
	@echo "make slides-plots     commit the plots of make compare: copy build/compare/ into slides/plots/"
	@echo "make compare          benchmark every model side by side: table + plots in build/compare (docs/compare.md)"
	@echo "make clean            remove build/"
	@echo "instructors (docs/instructors.md):"
	@echo "make handout          the student handout: $(BUILD)/handout/iolab-handout.tar.gz"
	@echo "make handout LEVEL=2  the handout at level 2 or 3: students write more of each model"
	@echo "make gradescope       Gradescope's autograder: $(BUILD)/gradescope/iolab-autograder.zip"
	@echo "make batch SUBMISSIONS=DIR [JOBS=2] [LABS=a,b] [OUT=$(BUILD)/batch]   grade a class"

# Installs missing Debian packages (as root) or says which to install.
$(DEPS_OK): tools/ensure-deps.sh
	@tools/ensure-deps.sh
	@mkdir -p $(@D) && touch $@
deps: $(DEPS_OK)

$(BUILD)/obj/labs/%/server.o: labs/%/server.cpp | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(LAB_FLAGS) -c $< -o $@

# In the handout (no solutions/), students write parts of labs/common at levels
# 2 and 3: there it builds as the labs do, unfinished work included.
$(BUILD)/obj/labs/common/%.o: labs/common/%.cpp | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(if $(MODELS),$(STRICT),$(LAB_FLAGS)) -c $< -o $@

$(BUILD)/obj/%.o: %.cpp | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(STRICT) -c $< -o $@

$(MODELS_CPP): labs/models.txt tools/models.sh
	@mkdir -p $(@D)
	tools/models.sh cpp > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/models.o: $(MODELS_CPP) | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) -Ichecker $(CXXFLAGS) $(STRICT) -c $< -o $@

$(BUILD)/libiolab.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^

# Each model links with what labs/models.txt says, besides the kit.
$(BUILD)/solutions/%: $(BUILD)/obj/solutions/%/server.o $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $$(tools/models.sh links $*) -o $@

$(BUILD)/labs/%: $(BUILD)/obj/labs/%/server.o $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $$(tools/models.sh links $*) -o $@

# An archive, not the objects: a fixture links only what it uses, so that
# one without threads does not import std::thread (system_interfaces reads it).
$(BUILD)/libfixtures.a: $(FIXTURE_SUPPORT_OBJ)
	$(AR) rcs $@ $^

# A fixture named after its model (uring_..., aio_...) links what that model links.
$(BUILD)/fixtures/%: $(BUILD)/obj/tests/fixtures/%.o $(BUILD)/libfixtures.a $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $$(tools/models.sh links $(firstword $(subst _, ,$*))) -o $@

$(BUILD)/checker: $(BUILD)/obj/checker/main.o $(CHECKER_OBJ) $(BUILD)/libiolab.a | $(BUILD)/short_io_shim.so
	$(CXX) $(LDFLAGS) $^ -o $@

# The LD_PRELOAD library of the checker's short_io test. Plain C and never
# sanitized: it is preloaded into sanitized servers too.
$(BUILD)/short_io_shim.so: checker/short_io_shim.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -fPIC -shared $< -o $@ -ldl

$(BUILD)/tests/run_tests: $(TEST_OBJ) $(CHECKER_OBJ) $(BUILD)/libfixtures.a $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(shell pkg-config --libs gtest) -o $@

$(BUILD)/obj/tests/%.o: CPPFLAGS += -Ichecker -Itests/fixtures/support $(shell pkg-config --cflags gtest 2>/dev/null)

# Grading builds each lab itself, so that one lab that does not compile costs
# only that lab's points.
grade: $(BUILD)/checker  ## grade labs/ (or SRC=solutions), all labs or LAB=name
	@BUILD=$(BUILD) tools/grade.sh $(SRC) $(LAB)

test: $(BUILD)/checker $(SOLUTIONS) $(LAB_SERVERS) $(FIXTURES) $(BUILD)/tests/run_tests  ## run the kit's tests
	@IOLAB_BUILD=$(BUILD) $(BUILD)/tests/run_tests

sanitize:  ## the tests under AddressSanitizer and UndefinedBehaviorSanitizer
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=address,undefined test

# The labs whose solutions run threads, graded under ThreadSanitizer. A data
# race makes the server exit with status 66 at once: the checker fails the
# test, and the solution's SolutionTest with it. (Not fork: its parent is
# single-threaded, and under ThreadSanitizer each fork() costs some 10 ms. Not
# aio: glibc's AIO helper threads start where ThreadSanitizer cannot see them.)
TSAN_LABS := $(shell tools/models.sh threaded)
# The checker's own threads too: checker bench samples the server from /proc
# on a thread of its own while its load generator runs.
TSAN_CHECKER_TESTS := Bench.*:BenchReport.*
TSAN_BENCH_SERVERS := $(BUILD)/bench/epoll_baseline $(BUILD)/solutions/blocking $(BUILD)/solutions/poll $(BUILD)/labs/blocking $(BUILD)/fixtures/flips_a_byte
space := $() $()
TSAN_FILTER := $(subst $(space),:,$(TSAN_LABS:%=Labs/SolutionTest.*/%)):ThreadSanitizer.*:$(TSAN_CHECKER_TESTS)

tsan:  ## the threaded solutions graded, and checker bench run, under ThreadSanitizer (build/tsan)
	@$(MAKE) --no-print-directory BUILD=build/tsan SANITIZE=thread tsan-run

tsan-run: $(BUILD)/checker $(TSAN_LABS:%=$(BUILD)/solutions/%) $(BUILD)/fixtures/races_on_a_counter $(TSAN_BENCH_SERVERS) $(BUILD)/tests/run_tests
	@IOLAB_BUILD=$(BUILD) TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(BUILD)/tests/run_tests --gtest_filter='$(TSAN_FILTER)'

# Level 1 is committed as labs/; levels 2 and 3 are generated, to review, in $(BUILD)/stubs/level-N.
stubs:  ## regenerate the lab stubs from the solutions
ifeq ($(LEVEL),1)
	@for model in $(MODELS); do \
	  awk -v STUB_PATH=labs/$$model/server.cpp -f tools/make-stub.awk solutions/$$model/server.cpp > labs/$$model/server.cpp; \
	done
else
	@tools/make-level.sh $(LEVEL) $(BUILD)/stubs/level-$(LEVEL) && echo "$(BUILD)/stubs/level-$(LEVEL)/labs: the labs at level $(LEVEL)"
endif

# make compare: checker bench over every model (solutions/, or SRC=labs), with
# a minimal epoll loop as the baseline; DURATION=seconds per cell, MODELS="a b",
# PAIRS=runs of epoll and the baseline in turn for the bar.
BENCH_SERVERS := $(patsubst tests/bench/%.cpp,$(BUILD)/bench/%,$(wildcard tests/bench/*.cpp))
COMPARE_SRC   := $(if $(filter command line environment,$(origin SRC)),$(SRC),solutions)
COMPARE_MODELS := $(if $(filter command line environment,$(origin MODELS)),$(MODELS),)
.PHONY: compare
$(BUILD)/obj/checker/%.o: CPPFLAGS += -Ichecker
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ -o $@
test: $(BENCH_SERVERS)
compare: $(BUILD)/checker $(BENCH_SERVERS)  ## benchmark every model side by side (SRC=labs for yours)
	@tools/ensure-deps.sh gnuplot-nox fonts-dejavu-core
	@BUILD=$(BUILD) DURATION="$(DURATION)" PAIRS="$(PAIRS)" MODELS="$(COMPARE_MODELS)" tools/compare.sh $(COMPARE_SRC)

format-check:  ## fail if a C or C++ file drifts from .clang-format
	@tools/check-format.sh

format:  ## reformat every C and C++ file to .clang-format (then make stubs)
	@tools/check-format.sh --fix

clean:
	rm -rf build

# Instructors: docs/instructors.md.
handout: $(DEPS_OK)  ## the student handout (stubs, scaffolding, checker; no solutions)
	@tools/make-handout.sh $(BUILD)/handout $(LEVEL)

gradescope: $(DEPS_OK)  ## Gradescope's autograder zip
	@tools/make-gradescope.sh $(BUILD)/gradescope

SUBMISSIONS ?=
OUT         ?= $(BUILD)/batch
JOBS        ?= 2
LABS        ?=
batch: $(BUILD)/checker  ## grade a class: one subdirectory of SUBMISSIONS per student
	@test -n "$(SUBMISSIONS)" || { echo "make batch needs SUBMISSIONS=DIR (one subdirectory per student)" >&2; exit 2; }
	$(BUILD)/checker batch --submissions $(SUBMISSIONS) --out $(OUT) --jobs $(JOBS) $(if $(LABS),--labs $(LABS))
# The lecture (slides/): Marp CLI and its helpers from the npm registry, at the
# exact versions of slides/package-lock.json, into slides/node_modules. No
# package may download a browser: Debian's chromium renders the PDF and the check.
SLIDES_NPM := slides/node_modules/.package-lock.json
.PHONY: slides slides-check slides-sync slides-plots

$(SLIDES_NPM): slides/package.json slides/package-lock.json
	@slides/tools/deps.sh
	cd slides && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund

slides: $(SLIDES_NPM)  ## the lecture deck, HTML (and PDF when Chromium is there)
	@slides/tools/deps.sh
	@node slides/tools/build.mjs --build $(BUILD)

slides-check: $(SLIDES_NPM)  ## build the deck, render every slide in Chromium, check it
	@slides/tools/deps.sh
	@node slides/tools/check.mjs --build $(BUILD)

slides-sync:  ## copy the solutions' current code and the timelines into the committed deck
	@node slides/tools/sync.mjs

slides-plots:  ## copy the plots and table of make compare into slides/plots/
	@node slides/tools/sync.mjs --plots $(BUILD)/compare

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
