// The labs the checker grades: one per model of labs/models.txt, in its
// order, each with its rubric table (checker/rubrics/NAME.cpp).
#include "../models.hpp"
#include "../text.hpp"

#include <algorithm>
#include <stdexcept>

namespace checker {

InterfaceRules interface_rules(const Model& model) {
    auto family = [&](const std::string& key) {
        const InterfaceFamily* found = interfaces::find_family(key);
        if (!found)
            throw std::invalid_argument(
                str("labs/models.txt: model ", model.name, " names '", key,
                    "', which is no interface family (checker/interfaces.cpp)"));
        return found;
    };
    InterfaceRules rules;
    for (const std::string& key : model.required) rules.required.push_back(family(key));
    std::vector<const InterfaceFamily*> permitted = rules.required;
    for (const std::string& key : model.allowed) permitted.push_back(family(key));
    for (const InterfaceFamily* each : interfaces::all_families())
        if (std::find(permitted.begin(), permitted.end(), each) == permitted.end())
            rules.forbidden.push_back(each);
    return rules;
}

const std::vector<Lab>& all_labs() {
    static const std::vector<Lab> labs = [] {
        std::vector<Lab> built;
        for (const Model& model : all_models())
            built.push_back({model.name, model.summary, model.rubric(), interface_rules(model)});
        return built;
    }();
    return labs;
}

const Lab* find_lab(const std::string& name) {
    for (const Lab& lab : all_labs())
        if (lab.name == name) return &lab;
    return nullptr;
}

const char* category_name(Category category) {
    switch (category) {
    case Category::Correctness: return "correctness";
    case Category::Concurrency: return "concurrency";
    case Category::Robustness: return "robustness";
    case Category::Resources: return "resources";
    case Category::Conformance: return "conformance";
    }
    return "?";
}

}  // namespace checker
