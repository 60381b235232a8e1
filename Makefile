# iolab: server I/O models on Linux, side by side.   `make help` lists the targets.
#
# Everything is built into $(BUILD)/:
#   $(BUILD)/checker            the grader
#   $(BUILD)/solutions/MODEL    reference servers
#   $(BUILD)/labs/MODEL         your servers

BUILD    ?= build
SRC      ?= labs
LAB      ?=
SANITIZE ?=

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
LAB_FLAGS := -Wno-unused-parameter

COMMON_OBJ   := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(wildcard labs/common/*.cpp))
MODELS       := $(patsubst solutions/%/server.cpp,%,$(wildcard solutions/*/server.cpp))
LABS         := $(patsubst labs/%/server.cpp,%,$(wildcard labs/*/server.cpp))
SOLUTIONS    := $(MODELS:%=$(BUILD)/solutions/%)
LAB_SERVERS  := $(LABS:%=$(BUILD)/labs/%)
CHECKER_OBJ  := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(filter-out checker/main.cpp,$(wildcard checker/*.cpp checker/*/*.cpp)))
FIXTURES     := $(patsubst tests/fixtures/%.cpp,$(BUILD)/fixtures/%,$(wildcard tests/fixtures/*.cpp))
TEST_OBJ     := $(patsubst %.cpp,$(BUILD)/obj/%.o,$(wildcard tests/*.cpp tests/unit/*.cpp tests/integration/*.cpp))
DEPS_OK      := $(BUILD)/.deps-ok

.PHONY: all help deps grade test sanitize tsan stubs clean
.DEFAULT_GOAL := all

all: $(BUILD)/checker $(SOLUTIONS) $(LAB_SERVERS)  ## build the checker, the solutions and your labs

help:  ## list the targets
	@echo "make                  build the checker, the reference solutions and your labs"
	@echo "make grade            grade your labs (labs/): one table, lab by lab"
	@echo "make grade LAB=blocking            grade one lab"
	@echo "make grade SRC=solutions           grade the reference solutions"
	@echo "make test             unit and integration tests of the kit"
	@echo "make sanitize         the tests again, built with AddressSanitizer + UBSan (build/asan)"
	@echo "make stubs            regenerate labs/*/server.cpp from the solutions' LAB regions"
	@echo "make compare          benchmark every model side by side: table + plots in build/compare (docs/compare.md)"
	@echo "make clean            remove build/"

# Installs missing Debian packages (as root) or says which to install.
$(DEPS_OK): tools/ensure-deps.sh
	@tools/ensure-deps.sh
	@mkdir -p $(@D) && touch $@
deps: $(DEPS_OK)

$(BUILD)/obj/labs/%/server.o: labs/%/server.cpp | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(LAB_FLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cpp | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(STRICT) -c $< -o $@

$(BUILD)/libiolab.a: $(COMMON_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/solutions/%: $(BUILD)/obj/solutions/%/server.o $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ -o $@

$(BUILD)/labs/%: $(BUILD)/obj/labs/%/server.o $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ -o $@

$(BUILD)/fixtures/%: $(BUILD)/obj/tests/fixtures/%.o $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ -o $@

$(BUILD)/checker: $(BUILD)/obj/checker/main.o $(CHECKER_OBJ) $(BUILD)/libiolab.a
	$(CXX) $(LDFLAGS) $^ -o $@

$(BUILD)/tests/run_tests: $(TEST_OBJ) $(CHECKER_OBJ) $(BUILD)/libiolab.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $^ $(shell pkg-config --libs gtest) -o $@

$(BUILD)/obj/tests/%.o: CPPFLAGS += -Ichecker $(shell pkg-config --cflags gtest 2>/dev/null)

# Grading builds each lab itself, so that one lab that does not compile costs
# only that lab's points.
grade: $(BUILD)/checker  ## grade labs/ (or SRC=solutions), all labs or LAB=name
	@BUILD=$(BUILD) tools/grade.sh $(SRC) $(LAB)

test: $(BUILD)/checker $(SOLUTIONS) $(LAB_SERVERS) $(FIXTURES) $(BUILD)/tests/run_tests  ## run the kit's tests
	@IOLAB_BUILD=$(BUILD) $(BUILD)/tests/run_tests

sanitize:  ## the tests under AddressSanitizer and UndefinedBehaviorSanitizer
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=address,undefined test

stubs:  ## regenerate the lab stubs from the solutions
	@for model in $(MODELS); do \
	  awk -v STUB_PATH=labs/$$model/server.cpp -f tools/make-stub.awk solutions/$$model/server.cpp > labs/$$model/server.cpp; \
	done

# make compare: checker bench over every model (solutions/, or SRC=labs), with
# a minimal epoll loop as the baseline; DURATION=seconds per cell, MODELS="a b".
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
	@BUILD=$(BUILD) DURATION="$(DURATION)" MODELS="$(COMPARE_MODELS)" tools/compare.sh $(COMPARE_SRC)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
