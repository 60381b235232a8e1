// The kit's models, as declared once in labs/models.txt (tools/models.sh
// generates all_models() from it at build time). The checker's labs, the
// Makefile and tools/compare.sh read the same list; nothing else names the
// models or their order.
#pragma once

#include "rubric.hpp"

#include <string>
#include <vector>

namespace checker {

// A lab's rubric table: checker/rubrics/NAME.cpp defines NAME_rubric().
using Rubric = std::vector<RubricEntry>;

struct Model {
    const char* name;                   // "blocking": labs/blocking, solutions/blocking
    const char* title;                  // the lab README's heading: "# Lab N: TITLE"
    const char* summary;                // the model in one line
    std::vector<std::string> required;  // interface families (InterfaceFamily::key) it must import
    std::vector<std::string> allowed;   // and may import; every other family is forbidden
    const char* links;  // what its server links with besides the kit ("" for nothing)
    bool threaded;      // its solution runs threads: graded under ThreadSanitizer
    Rubric (*rubric)();
};

// In the order of the course.
const std::vector<Model>& all_models();

// What a model's binary must and must not import: `required`, and every
// family neither required nor allowed is forbidden. Throws std::invalid_argument
// naming a key that is no family.
InterfaceRules interface_rules(const Model& model);

}  // namespace checker
