#include "compare_report.hpp"

#include "bench.hpp"
#include "text.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace checker::bench {

Spread spread_of(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    std::size_t n = values.size();
    double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    return {median, values.front(), values.back()};
}

namespace {

constexpr double kBar = 0.8;      // the reference epoll server must reach this much of the baseline
constexpr double kCpuGoal = 1.1;  // kCpuModel's requests per server CPU-second, over the baseline's
constexpr double kNoise = 1.05;   // margins below this are within one short run's noise
constexpr double kBusyMachine =
    0.25;  // CPUs kept busy by other processes beyond which a run is noise (as in bench)

std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
            fields.back() += '"';
            ++i;
        } else if (c == '"') quoted = !quoted;
        else if (c == ',' && !quoted) fields.emplace_back();
        else fields.back() += c;
    }
    return fields;
}

std::string fixed(double value, int decimals) {
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

std::string ratio(double value) { return fixed(value, value < 10 ? 2 : 1) + "×"; }

bool is_ok(const BenchRow& row) { return row.text("status") == "ok"; }
bool ran_on_busy_machine(const BenchRow& row) { return row.number("other_cpus") > kBusyMachine; }
bool is_open_loop(const BenchRow& row) { return row.text("mode") == "open loop"; }
bool is_churn(const BenchRow& row) { return row.text("mode") == "churn"; }
bool in_cell(const BenchRow& row, const Cell& cell) {
    return row.text("scenario") == cell.scenario &&
           static_cast<int>(row.number("connections")) == cell.connections;
}

const BenchRow* find_row(const std::vector<BenchRow>& rows, const Cell& cell,
                         const std::string& model) {
    for (const BenchRow& row : rows)
        if (in_cell(row, cell) && row.text("model") == model) return &row;
    return nullptr;
}

std::string rate_unit(const BenchRow& row) {
    return is_churn(row) ? "connections/s" : "requests/s";
}

std::string p99_text(const BenchRow& row) { return format_latency(row.number("p99_us") * 1e3); }

// The throughput table's entry: the rate, or why there is none.
std::string throughput_entry(const BenchRow* row) {
    if (!row) return "";
    std::string status = row->text("status");
    if (status == "did not start" || status == "not run") return status;
    if (status == "server died") return "server died";
    if (status == "corrupt") return "**corrupt replies**";
    if (status == "partial" && !is_churn(*row))
        return format_count(row->number("served")) + " of " +
               format_count(row->number("connections")) + " served";
    std::string text = format_count(row->number("requests_per_s"));
    if (status == "partial") text += " (some unanswered)";
    if (row->text("client_bound") == "yes") text += " ᶜ";
    if (ran_on_busy_machine(*row)) text += " ᵇ";
    return text;
}

// Requests per server CPU-second: the inverse of the server's CPU per
// request, measured from its own processes, so the generator cannot cap it.
std::string cpu_entry(const BenchRow* row) {
    if (!row || row->text("status") != "ok") return throughput_entry(row);
    double cpu_us = row->number("cpu_us_per_request");
    if (!(cpu_us > 0)) return "-";
    return format_count(1e6 / cpu_us) + (ran_on_busy_machine(*row) ? " ᵇ" : "");
}

std::string slug(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (std::isalnum(static_cast<unsigned char>(c))) out += c;
        else if (!out.empty() && out.back() != '-') out += '-';
    }
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out;
}

std::string machine_line(const std::vector<BenchRow>& rows) {
    utsname system{};
    ::uname(&system);
    std::string cpu_name;
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; cpu_name.empty() && std::getline(cpuinfo, line);)
        if (line.rfind("model name", 0) == 0) cpu_name = line.substr(line.find(':') + 2);
    std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
    std::string text = std::string("Measured ") + date + " on " +
                       std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs" +
                       (cpu_name.empty() ? "" : " (" + cpu_name + ")") + ", Linux " +
                       system.release + ".";
    if (!rows.empty()) {
        text += " Each cell is one run of " + fixed(rows.front().number("window_s"), 1) +
                " s measured after " + fixed(rows.front().number("warmup_s"), 2) + " s of warm-up.";
        long pinned = std::count_if(rows.begin(), rows.end(), [](const BenchRow& row) {
            return row.number("client_cpu") >= 0;
        });
        if (pinned > 0)
            text += " The server ran on " +
                    std::find_if(rows.begin(), rows.end(),
                                 [](const BenchRow& row) { return row.number("client_cpu") >= 0; })
                        ->text("server_cpus") +
                    " CPU(s) and the load generator on another in " +
                    (pinned == static_cast<long>(rows.size())
                         ? std::string("every run")
                         : std::to_string(pinned) + " of " + std::to_string(rows.size()) +
                               " runs (not pinned where the machine was busy)") +
                    ".";
        else text += " Server and load generator were not pinned to CPUs of their own.";
    }
    return text;
}

}  // namespace

// ---- rows -----------------------------------------------------------------------------

std::string BenchRow::text(const std::string& column) const {
    auto found = fields.find(column);
    return found == fields.end() ? "" : found->second;
}

double BenchRow::number(const std::string& column) const {
    std::string value = text(column);
    if (value.empty()) return NAN;
    try {
        return std::stod(value);
    } catch (const std::exception&) {
        return NAN;
    }
}

std::vector<BenchRow> read_bench_csv(const std::string& path) {
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error("cannot read " + path +
                                 " (run the benchmarks first: make compare)");
    std::string line;
    if (!std::getline(in, line)) throw std::runtime_error(path + " is empty");
    std::vector<std::string> header = split_csv_line(line);
    std::vector<BenchRow> rows;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::vector<std::string> values = split_csv_line(line);
        if (values == header) continue;  // a second header, from concatenated files
        BenchRow row;
        for (std::size_t i = 0; i < header.size() && i < values.size(); ++i)
            row.fields[header[i]] = values[i];
        rows.push_back(std::move(row));
    }
    return rows;
}

std::string Cell::label() const {
    return scenario + ", " + format_count(connections) +
           (connections == 1 ? " connection" : " connections");
}

std::vector<Cell> cells_of(const std::vector<BenchRow>& rows) {
    std::vector<Cell> cells;
    for (const BenchRow& row : rows) {
        Cell cell{row.text("scenario"), static_cast<int>(row.number("connections"))};
        if (std::none_of(cells.begin(), cells.end(), [&](const Cell& c) {
                return c.scenario == cell.scenario && c.connections == cell.connections;
            }))
            cells.push_back(cell);
    }
    return cells;
}

std::vector<std::string> models_of(const std::vector<BenchRow>& rows) {
    std::vector<std::string> models;
    for (const BenchRow& row : rows)
        if (std::find(models.begin(), models.end(), row.text("model")) == models.end())
            models.push_back(row.text("model"));
    return models;
}

// ---- verdicts -------------------------------------------------------------------------

std::string winner_sentence(const std::vector<BenchRow>& rows, const Cell& cell) {
    std::vector<const BenchRow*> contestants;
    for (const BenchRow& row : rows)
        if (in_cell(row, cell) && is_ok(row) && row.text("model") != kBaselineModel)
            contestants.push_back(&row);
    std::string head = cell.label() + ": ";
    if (contestants.empty())
        return head + "no model served every connection with verified replies.";
    bool by_latency = is_open_loop(*contestants.front());
    auto better = [&](const BenchRow* a, const BenchRow* b) {
        return by_latency ? a->number("p99_us") < b->number("p99_us")
                          : a->number("requests_per_s") > b->number("requests_per_s");
    };
    std::stable_sort(contestants.begin(), contestants.end(), better);
    const BenchRow& winner = *contestants[0];
    auto figure = [&](const BenchRow& row) {
        return by_latency ? "p99 " + p99_text(row)
                          : format_count(row.number("requests_per_s")) + " " + rate_unit(row);
    };
    std::string text = head + "**" + winner.text("model") + "** with " + figure(winner);
    std::string yardstick;
    for (const BenchRow& row : rows)
        if (in_cell(row, cell) && is_ok(row) && row.text("model") == kBaselineModel)
            yardstick = " (" + std::string(kBaselineModel) + ": " +
                        (by_latency ? p99_text(row) : format_count(row.number("requests_per_s"))) +
                        ")";
    if (contestants.size() == 1)
        return text + "; it was the only model to serve every connection" + yardstick + ".";
    const BenchRow& second = *contestants[1];
    double margin = by_latency ? second.number("p99_us") / std::max(winner.number("p99_us"), 1e-9)
                               : winner.number("requests_per_s") /
                                     std::max(second.number("requests_per_s"), 1e-9);
    text += ", " + ratio(margin) + (by_latency ? " lower than " : " ") + second.text("model") +
            " (" + (by_latency ? p99_text(second) : format_count(second.number("requests_per_s"))) +
            "), the runner-up";
    if (margin < kNoise) text += ": a tie within the noise of one short run";
    if (winner.text("client_bound") == "yes")
        text += " (the load generator was saturated: the true margin may be larger)";
    return text + yardstick + ".";
}

std::vector<std::string> baseline_comparison(const std::vector<BenchRow>& rows) {
    std::vector<std::string> lines;
    for (const Cell& cell : cells_of(rows)) {
        const BenchRow* reference = find_row(rows, cell, kReferenceModel);
        const BenchRow* baseline = find_row(rows, cell, kBaselineModel);
        if (!reference || !baseline || !is_ok(*reference) || !is_ok(*baseline) ||
            is_open_loop(*reference))
            continue;
        double multiple = reference->number("requests_per_s") /
                          std::max(baseline->number("requests_per_s"), 1e-9);
        std::string line = cell.label() + ": " + kReferenceModel + " " +
                           format_count(reference->number("requests_per_s")) + ", baseline " +
                           format_count(baseline->number("requests_per_s")) + " " +
                           rate_unit(*reference) + ": **" + ratio(multiple) + "**";
        bool plain_echo =
            reference->number("delay_us") == 0 && reference->number("compute_us") == 0 &&
            reference->text("mode") == "closed loop" && reference->number("line_bytes") == 64 &&
            reference->number("pipeline") == 1;
        if (plain_echo && cell.connections == 100)
            line += " (the bar is " + ratio(kBar) + (multiple >= kBar ? ": met" : ": **NOT met**") +
                    " in this one run)";
        if (reference->number("delay_us") > 0 || reference->number("compute_us") > 0)
            line += multiple >= 2
                        ? " (with business logic the pool must win clearly: it does)"
                        : " (with business logic the pool must win clearly: **it does not**)";
        lines.push_back(line);
    }
    return lines;
}

std::string bar_from_pairs(const std::vector<BenchRow>& pairs) {
    std::vector<const BenchRow*> references, baselines;
    for (const BenchRow& row : pairs) {
        if (row.text("model") == kReferenceModel) references.push_back(&row);
        if (row.text("model") == kBaselineModel) baselines.push_back(&row);
    }
    std::vector<double> ratios;
    std::string listed;
    for (std::size_t i = 0; i < std::min(references.size(), baselines.size()); ++i) {
        if (!is_ok(*references[i]) || !is_ok(*baselines[i]))
            continue;  // a failed run is no measurement
        double multiple = references[i]->number("requests_per_s") /
                          std::max(baselines[i]->number("requests_per_s"), 1e-9);
        ratios.push_back(multiple);
        listed += (listed.empty() ? "" : ", ") + ratio(multiple);
    }
    if (ratios.empty()) return "";
    double median = spread_of(ratios).median;
    return std::to_string(ratios.size()) + " pairs of runs in turn, " +
           pairs.front().text("scenario") + " at " + pairs.front().text("connections") +
           " connections: " + listed + "; median **" + ratio(median) + "** (the bar is " +
           ratio(kBar) + ": " + (median >= kBar ? "met" : "**NOT met**") + ")";
}

// ---- plots ------------------------------------------------------------------------------

namespace {

struct Plot {
    const char* name;    // file name prefix
    const char* column;  // what is plotted (column 2 of the data files)
    double unit;         // the column's value is divided by this
    const char* title;
    const char* y_label;
    bool log_y;
};

constexpr Plot kPlots[] = {
    {"throughput", "requests_per_s", 1, "Throughput", "requests per second", false},
    {"p99", "p99_us", 1000, "p99 latency", "p99 latency (ms, log scale)", true},
    {"memory", "anon_memory_bytes", 1024 * 1024, "Server memory",
     "peak anonymous memory, all its processes (MiB, log scale)", true},
    // Measured from the server's own processes: it does not depend on whether
    // the load generator kept up. Against an idle crowd it shows what each
    // model pays per request for the connections it merely watches.
    {"cpu", "cpu_us_per_request", 1, "Server CPU per request",
     "server CPU time per request (µs, log scale)", true},
};

// Scenarios measured at two or more numbers of connections: the x axis of a plot.
std::vector<std::string> swept_scenarios(const std::vector<BenchRow>& rows) {
    std::map<std::string, std::set<int>> counts;
    std::vector<std::string> order;
    for (const BenchRow& row : rows) {
        std::string scenario = row.text("scenario");
        if (!counts.count(scenario)) order.push_back(scenario);
        counts[scenario].insert(static_cast<int>(row.number("connections")));
    }
    std::vector<std::string> swept;
    for (const std::string& scenario : order)
        if (counts[scenario].size() >= 2) swept.push_back(scenario);
    return swept;
}

// Colours that stay apart on a projector (Tableau 10), one per model in the
// order of the run, the same in every plot.
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
                                    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896"};
constexpr std::size_t kStyles = std::size(kColours);

void write_plot(std::ostream& gp, const Plot& plot, const std::string& scenario,
                const std::vector<std::string>& files, const std::vector<std::string>& models,
                const std::vector<std::string>& all_models, int max_connections) {
    std::string base = std::string(plot.name) + "-" + slug(scenario);
    for (const char* terminal : {"svg", "png"}) {
        if (std::string(terminal) == "svg")
            gp << "set terminal svg size 960,600 fixed enhanced font 'DejaVu Sans,13' background rgb 'white'\n";
        else
            gp << "set terminal pngcairo size 1200,750 enhanced font 'DejaVu Sans,12' background rgb 'white'\n";
        gp << "set output '" << base << "." << terminal << "'\n"
           << "set title \"" << plot.title << " against connections: " << scenario
           << "\\n{/*0.75 one line per model; only runs that served every connection (a missing point: the model could not)}\"\n"
           << "set xlabel 'connections held open (log scale)'\n"
           << "set ylabel '" << plot.y_label << "'\n"
           << "set logscale x 10\nset xrange [0.7:" << max_connections * 1.5 << "]\n"
           << (plot.log_y ? "set logscale y 10\nset yrange [*:*]\n"
                          : "unset logscale y\nset yrange [0:*]\n")
           << "set format y '" << (plot.log_y ? "%g" : "%.0s%c")
           << "'\n"  // 0.1, 1, 10; or 50k, 100k
           << "set key outside right top box\nset grid xtics ytics mxtics mytics\n"
           << "plot ";
        for (std::size_t i = 0; i < files.size(); ++i) {
            auto n = static_cast<std::size_t>(
                std::find(all_models.begin(), all_models.end(), models[i]) - all_models.begin());
            bool baseline = models[i] == kBaselineModel;
            gp << (i ? ", \\\n     " : "") << "'" << files[i]
               << "' using 1:2 with linespoints lw 2.5 pt " << (n % kStyles) + 1
               << " ps 1.4 lc rgb '" << (baseline ? "#555555" : kColours[n % kStyles]) << "'"
               << (baseline ? " dt 2" : "") << " title '" << models[i] << "'";
        }
        gp << "\n\n";
    }
}

struct PlannedPlot {
    const Plot* plot;
    std::string scenario;
    std::string base;                        // file name without extension
    std::vector<std::string> models, files;  // the lines: models with at least one point
    int max_connections = 1;
};

std::string data_file(const Plot& plot, const std::string& scenario, const std::string& model) {
    return "plot-data/" + std::string(plot.name) + "-" + slug(scenario) + "-" + slug(model) +
           ".dat";
}

bool plotted(const BenchRow& row, const std::string& scenario, const std::string& model) {
    return row.text("scenario") == scenario && row.text("model") == model && is_ok(row);
}

// The plots there will be: one per metric and swept scenario that has a point.
std::vector<PlannedPlot> planned_plots(const std::vector<BenchRow>& rows) {
    std::vector<PlannedPlot> planned;
    for (const std::string& scenario : swept_scenarios(rows)) {
        for (const Plot& plot : kPlots) {
            PlannedPlot p{&plot, scenario, std::string(plot.name) + "-" + slug(scenario),
                          {},    {},       1};
            for (const std::string& model : models_of(rows)) {
                bool any = false;
                for (const BenchRow& row : rows) {
                    if (row.text("scenario") == scenario)
                        p.max_connections = std::max(p.max_connections,
                                                     static_cast<int>(row.number("connections")));
                    any = any || plotted(row, scenario, model);
                }
                if (!any) continue;
                p.models.push_back(model);
                p.files.push_back(data_file(plot, scenario, model));
            }
            if (!p.models.empty()) planned.push_back(p);
        }
    }
    return planned;
}

}  // namespace

// ---- the Markdown report --------------------------------------------------------------

namespace {

// The table of requests/s, scenario by model; `models`: the columns (all when empty).
void throughput_table(std::ostream& out, const std::vector<BenchRow>& rows,
                      std::vector<std::string> models = {},
                      std::string (*entry)(const BenchRow*) = throughput_entry) {
    if (models.empty()) models = models_of(rows);
    out << "| scenario |";
    for (const std::string& model : models) out << " " << model << " |";
    out << "\n|---|";
    for (std::size_t i = 0; i < models.size(); ++i) out << "---:|";
    out << "\n";
    std::set<std::string> never_started;  // make compare does not try such a model again
    for (const BenchRow& row : rows)
        if (row.text("status") == "did not start") never_started.insert(row.text("model"));
    for (const Cell& cell : cells_of(rows)) {
        out << "| " << cell.label() << " |";
        for (const std::string& model : models) {
            const BenchRow* row = find_row(rows, cell, model);
            out << " " << (row || !never_started.count(model) ? entry(row) : "did not start")
                << " |";
        }
        out << "\n";
    }
}

// "12 / 950 / 1,020", and how many connections had no reply in the window.
std::string fairness_text(const BenchRow& row) {
    if (std::isnan(row.number("per_connection_min_per_s"))) return "-";
    std::string text = format_count(row.number("per_connection_min_per_s")) + " / " +
                       format_count(row.number("per_connection_median_per_s")) + " / " +
                       format_count(row.number("per_connection_max_per_s"));
    double unserved = row.number("unserved_in_window");
    if (!std::isnan(unserved) && unserved > 0) text += " (" + format_count(unserved) + " unserved)";
    return text;
}

void detail_table(std::ostream& out, const std::vector<BenchRow>& rows, const Cell& cell) {
    out << "| model | served | requests/s | per connection min / median / max | p50 | p99 | "
           "p99.9 | max | CPU µs/request | memory | processes / threads | generator CPU | note |\n"
        << "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
    for (const BenchRow& row : rows) {
        if (!in_cell(row, cell)) continue;
        out << "| " << row.text("model") << " | ";
        if (row.text("status") == "did not start" || row.text("status") == "not run") {
            out << "| | | | | | | | | | | " << row.text("note") << " |\n";
            continue;
        }
        bool churn = is_churn(row);
        out << (churn ? format_count(row.number("answered")) + " conn."
                      : format_count(row.number("served")) + "/" +
                            format_count(row.number("connections")))
            << " | " << format_count(row.number("requests_per_s")) << " | " << fairness_text(row)
            << " | " << format_latency(row.number("p50_us") * 1e3) << " | " << p99_text(row)
            << " | " << format_latency(row.number("p999_us") * 1e3) << " | "
            << format_latency(row.number("max_us") * 1e3) << " | "
            << (std::isnan(row.number("cpu_us_per_request"))
                    ? "-"
                    : fixed(row.number("cpu_us_per_request"), 1))
            << " | " << format_bytes(row.number("anon_memory_bytes")) << " | "
            << row.text("processes") << " / " << row.text("threads") << " | "
            << fixed(row.number("client_cpu_share") * 100, 0) << "% | " << row.text("note")
            << " |\n";
    }
}

void generator_section(std::ostream& out, const std::vector<BenchRow>& rows) {
    out << "## The load generator\n\n"
        << "One thread and one epoll loop, on a CPU of its own. Its CPU share says whether it, rather than the "
           "server, set the pace: a run is marked client-bound (ᶜ) when the generator was busy "
        << "90% of the time or more while the server was not.\n\n";
    std::vector<std::string> shares;
    for (const BenchRow& row : rows)
        if (row.number("connections") == 100 && row.text("mode") == "closed loop" &&
            row.number("line_bytes") == 64 && row.number("delay_us") == 0 &&
            row.number("compute_us") == 0 && row.text("status") != "did not start")
            shares.push_back(row.text("model") + ": generator " +
                             fixed(row.number("client_cpu_share") * 100, 0) + "%, server " +
                             fixed(row.number("server_cpu_share") * 100, 0) + "% of one CPU");
    if (!shares.empty()) {
        out << "Plain echo, 64-byte lines, 100 connections (where the generator works hardest):\n\n";
        for (const std::string& share : shares) out << "- " << share << "\n";
        out << "\nOn plain echo the generator spends about as much CPU per request as the lightest server (most of it "
               "is the kernel's TCP work, the same on both sides): where both are near 100%, the server's figure is its "
               "capacity or a little below.\n\n";
    }
    std::vector<std::string> bound;
    for (const BenchRow& row : rows)
        if (row.text("client_bound") == "yes")
            bound.push_back(row.text("model") + " (" + row.text("scenario") + ", " +
                            row.text("connections") + ")");
    if (bound.empty()) {
        out << "No run was client-bound.\n\n";
    } else {
        out << "Client-bound runs (the server could have gone faster than measured): ";
        for (std::size_t i = 0; i < bound.size(); ++i) out << (i ? ", " : "") << bound[i];
        out << ".\n\n";
    }
}

// Which model used the least server CPU per request in each plain echo cell
// where it served every connection.
std::vector<std::string> lowest_cpu_per_request(const std::vector<BenchRow>& rows) {
    std::vector<std::string> lines;
    for (const Cell& cell : cells_of(rows)) {
        const BenchRow* best = nullptr;
        for (const BenchRow& row : rows) {
            if (!in_cell(row, cell) || !is_ok(row) || row.text("model") == kBaselineModel ||
                is_open_loop(row) || is_churn(row) || row.number("delay_us") > 0 ||
                row.number("compute_us") > 0 || std::isnan(row.number("cpu_us_per_request")))
                continue;
            if (!best || row.number("cpu_us_per_request") < best->number("cpu_us_per_request"))
                best = &row;
        }
        if (best)
            lines.push_back(cell.label() + ": " + best->text("model") + ", " +
                            fixed(best->number("cpu_us_per_request"), 1) + " CPU µs/request");
    }
    return lines;
}

void cpu_goal_section(std::ostream& out, const std::vector<BenchRow>& rows,
                      const std::vector<BenchRow>& cpu_pairs) {
    std::vector<std::string> goal = cpu_goal_from_pairs(cpu_pairs);
    std::vector<std::string> lowest = lowest_cpu_per_request(rows);
    if (goal.empty() && lowest.empty()) return;
    out << "## " << kCpuModel << " against the baseline: requests per server CPU-second\n\n"
        << "On a 2-CPU machine the load generator limits every fast server, so requests/s cannot "
           "rank them; the server's own CPU per request can. The goal: "
        << kCpuModel << " at " << ratio(kCpuGoal)
        << " the baseline's requests per server CPU-second (the inverse of CPU µs/request) on "
           "echo 64 B, judged on runs repeated side by side, and the lowest CPU per request of "
           "every model.\n\n";
    for (const std::string& line : goal) out << "- " << line << "\n";
    if (!lowest.empty()) {
        out << "\nLowest CPU per request, cell by cell (one run each):\n\n";
        for (const std::string& line : lowest) out << "- " << line << "\n";
    }
    out << "\n";
}

void workers_section(std::ostream& out, const std::vector<BenchRow>& workers) {
    std::vector<std::string> lines = workers_sweep(workers);
    if (lines.empty()) return;
    const BenchRow& first = workers.front();
    out << "## Throughput against --workers\n\n"
        << "The models with a pool or a loop per core, " << first.text("scenario") << ", "
        << first.text("connections") << " connections, at each --workers in turn. The server "
        << (first.text("server_cpus") == "1" ? "had one CPU (the load generator the other): "
                                               "more workers cannot add a CPU here, only share one"
                                             : "had " + first.text("server_cpus") + " CPUs")
        << ". To see them scale, give the server W CPUs and the load generator one more: "
           "`checker bench --workers W --compute-us 100 -c 100 -- build/solutions/reactors` on a "
           "machine with W + 1 CPUs or more.\n\n";
    for (const std::string& line : lines) out << "- " << line << "\n";
    out << "\n";
}

// The counting runs (checker bench --syscalls): one line per model.
void syscalls_section(std::ostream& out, const std::vector<BenchRow>& syscall_rows) {
    if (syscall_rows.empty()) return;
    out << "## System calls per request\n\n"
        << "Counted with `strace -c -f` over the window of a separate, short run per model ("
        << syscall_rows.front().text("scenario") << ", " << syscall_rows.front().text("connections")
        << " connections): tracing slows a server down several times, so no other figure comes "
           "from these runs. The figure that explains the others: a readiness loop pays its wait, "
           "a receive and a send per request, epoll + pool a re-arm besides, io_uring batches "
           "many operations into one call.\n\n"
        << "| model | system calls per request |\n|---|---:|\n";
    for (const BenchRow& row : syscall_rows) {
        double calls = row.number("syscalls_per_request");
        out << "| " << row.text("model") << " | "
            << (std::isnan(calls) ? "not counted: " + row.text("note") : fixed(calls, 2)) << " |\n";
    }
    out << "\n";
}

}  // namespace

std::vector<std::string> cpu_goal_from_pairs(const std::vector<BenchRow>& cpu_pairs) {
    std::vector<std::string> counts;  // in the order they were run
    for (const BenchRow& row : cpu_pairs)
        if (std::find(counts.begin(), counts.end(), row.text("connections")) == counts.end())
            counts.push_back(row.text("connections"));
    std::vector<std::string> lines;
    for (const std::string& count : counts) {
        std::vector<const BenchRow*> measured, baselines;
        for (const BenchRow& row : cpu_pairs) {
            if (row.text("connections") != count) continue;
            if (row.text("model") == kCpuModel) measured.push_back(&row);
            if (row.text("model") == kBaselineModel) baselines.push_back(&row);
        }
        std::vector<double> ratios;
        std::string listed;
        for (std::size_t i = 0; i < std::min(measured.size(), baselines.size()); ++i) {
            double ours = measured[i]->number("cpu_us_per_request");
            double theirs = baselines[i]->number("cpu_us_per_request");
            if (!is_ok(*measured[i]) || !is_ok(*baselines[i]) || !(ours > 0) || !(theirs > 0))
                continue;  // a failed run is no measurement
            ratios.push_back(theirs / ours);
            listed += (listed.empty() ? "" : ", ") + ratio(theirs / ours);
        }
        if (ratios.empty()) continue;
        Spread spread = spread_of(ratios);
        lines.push_back(count + " connections: " + std::to_string(ratios.size()) +
                        " pairs of runs in turn: " + listed + "; median **" + ratio(spread.median) +
                        "**, spread " + ratio(spread.lowest) + "–" + ratio(spread.highest) +
                        " (the goal is " + ratio(kCpuGoal) + ": " +
                        (spread.median >= kCpuGoal ? "met" : "**NOT met**") + ")");
    }
    return lines;
}

std::vector<std::string> workers_sweep(const std::vector<BenchRow>& workers) {
    std::vector<std::string> lines;
    for (const std::string& model : models_of(workers)) {
        std::vector<std::pair<int, const BenchRow*>> runs;
        for (const BenchRow& row : workers)
            if (row.text("model") == model && is_ok(row))
                runs.push_back({static_cast<int>(row.number("workers")), &row});
        if (runs.empty()) continue;
        std::sort(runs.begin(), runs.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        double one = runs.front().second->number("requests_per_s");
        std::string line = model + ":";
        for (std::size_t i = 0; i < runs.size(); ++i) {
            double rate = runs[i].second->number("requests_per_s");
            line += str(i ? ", " : " ", runs[i].first, " → ", format_count(rate));
            if (i > 0) line += " (" + ratio(rate / std::max(one, 1e-9)) + ")";
        }
        lines.push_back(line + " requests/s");
    }
    return lines;
}

std::vector<std::string> churn_from_pairs(const std::vector<BenchRow>& churn_pairs) {
    std::vector<std::string> scenarios;  // in the order they were run
    for (const BenchRow& row : churn_pairs)
        if (std::find(scenarios.begin(), scenarios.end(), row.text("scenario")) == scenarios.end())
            scenarios.push_back(row.text("scenario"));
    std::vector<std::string> lines;
    for (const std::string& scenario : scenarios) {
        // "churn: prefork vs fork": the pool, then the model it is measured against
        std::size_t vs = scenario.find(" vs ");
        std::size_t colon = scenario.find(": ");
        if (vs == std::string::npos || colon == std::string::npos || colon > vs) continue;
        std::string pool = scenario.substr(colon + 2, vs - colon - 2);
        std::string other = scenario.substr(vs + 4);
        std::vector<const BenchRow*> pools, others;
        for (const BenchRow& row : churn_pairs) {
            if (row.text("scenario") != scenario) continue;
            if (row.text("model") == pool) pools.push_back(&row);
            if (row.text("model") == other) others.push_back(&row);
        }
        std::vector<double> rates, cpu;
        std::string listed;
        for (std::size_t i = 0; i < std::min(pools.size(), others.size()); ++i) {
            double ours = pools[i]->number("cpu_us_per_request");
            double theirs = others[i]->number("cpu_us_per_request");
            if (!is_ok(*pools[i]) || !is_ok(*others[i]) || !(ours > 0) || !(theirs > 0))
                continue;  // a failed run is no measurement
            rates.push_back(pools[i]->number("requests_per_s") /
                            std::max(others[i]->number("requests_per_s"), 1e-9));
            cpu.push_back(theirs / ours);
            listed += (listed.empty() ? "" : ", ") + ratio(rates.back()) + "/" + ratio(cpu.back());
        }
        if (rates.empty()) continue;
        Spread rate = spread_of(rates), saving = spread_of(cpu);
        lines.push_back(pool + " against " + other + ", " + std::to_string(rates.size()) +
                        " pairs of runs in turn (connections/s / CPU saving): " + listed +
                        "; connections/s: median **" + ratio(rate.median) + "**, spread " +
                        ratio(rate.lowest) + "–" + ratio(rate.highest) +
                        "; server CPU per connection: median **" + ratio(saving.median) +
                        " less**, spread " + ratio(saving.lowest) + "–" + ratio(saving.highest));
    }
    return lines;
}

std::string markdown_report(const std::vector<BenchRow>& rows, const std::string& title,
                            const ExtraRuns& extra) {
    std::ostringstream out;
    out << "# " << (title.empty() ? "The I/O models compared" : title) << "\n\n"
        << machine_line(rows) << "\n\n"
        << "One short run per cell on a machine that may be busy with other work: take differences under "
           "about 20% as noise, and run `make compare` again before drawing a conclusion from them. "
           "docs/compare.md explains the scenarios and the columns.\n\n";
    long busy = std::count_if(rows.begin(), rows.end(), ran_on_busy_machine);
    if (busy > 0)
        out << "**" << busy << " of " << rows.size()
            << " runs (ᵇ) ran while other processes kept more than " << fixed(kBusyMachine, 2)
            << " CPUs busy: their figures are noise**. Run `make compare` again on a quiet machine.\n\n";

    out << "## Throughput (requests/s; connections/s for churn)\n\n";
    throughput_table(out, rows);
    out << "\n\"N of M served\": the model answered only N of the M connections during the measured window "
           "(the others waited, or were refused); its throughput is not comparable and it cannot win. "
           "ᶜ: client-bound. ᵇ: the machine was busy.\n\n";

    out << "## Requests per server CPU-second\n\n"
        << "The inverse of the server's CPU per request, measured from its own processes and "
           "threads: where the load generator capped the throughput (ᶜ), this still ranks the "
           "models. Churn: connections per server CPU-second.\n\n";
    throughput_table(out, rows, {}, cpu_entry);
    out << "\n";

    out << "## Who won\n\n";
    for (const Cell& cell : cells_of(rows)) out << "- " << winner_sentence(rows, cell) << "\n";
    out << "\nWon on requests/s, except open-loop scenarios (the same rate for every model): on p99 latency.\n\n";

    out << "## " << kReferenceModel << " against the baseline\n\n";
    std::vector<std::string> comparison = baseline_comparison(rows);
    std::vector<std::string> models = models_of(rows);
    bool have_reference = std::find(models.begin(), models.end(), kReferenceModel) != models.end();
    bool have_baseline = std::find(models.begin(), models.end(), kBaselineModel) != models.end();
    if (!comparison.empty()) {
        out << kBaselineModel
            << " is a minimal single-threaded epoll echo loop (tests/bench/epoll_baseline.cpp) that runs "
            << "the business logic on its loop thread. The reference " << kReferenceModel
            << " server must reach " << ratio(kBar)
            << " its throughput on plain echo at 100 connections and win clearly with --delay-us.\n\n";
        for (const std::string& line : comparison) out << "- " << line << "\n";
        out << "\n";
        std::string repeated = bar_from_pairs(extra.pairs);
        if (!repeated.empty())
            out << "One run per cell is noisy, so the bar is judged on runs repeated side by side: "
                << repeated << ".\n\n";
    } else {
        out << (have_reference && have_baseline
                    ? "No scenario in which both ran and served every connection.\n\n"
                    : "Shown when both the reference `" + std::string(kReferenceModel) +
                          "` server and `" + kBaselineModel + "` are in the run" +
                          (have_reference ? ""
                                          : " (solutions/" + std::string(kReferenceModel) +
                                                " does not exist yet)") +
                          ".\n\n");
    }

    cpu_goal_section(out, rows, extra.cpu_pairs);
    std::vector<std::string> churn = churn_from_pairs(extra.churn_pairs);
    if (!churn.empty()) {
        out << "## Connection churn: a pool made in advance against a worker per client\n\n"
            << "Each client connects, sends one line, reads the reply and closes: the cost of a "
               "connection. A pool pays for its processes or threads once, at start; fork and "
               "threads pay for one per client. Judged on runs repeated side by side:\n\n";
        for (const std::string& line : churn) out << "- " << line << "\n";
        out << "\n";
    }
    workers_section(out, extra.workers);
    syscalls_section(out, extra.syscalls);
    generator_section(out, rows);

    out << "## Plots\n\n"
        << "Against the number of connections, one line per model, only the runs that served every connection "
           "(SVG and PNG next to this file):\n\n";
    for (const PlannedPlot& plot : planned_plots(rows))
        out << "![" << plot.plot->title << ", " << plot.scenario << "](" << plot.base << ".svg)\n";
    out << "\n";

    out << "## Details by scenario\n\n";
    for (const Cell& cell : cells_of(rows)) {
        out << "### " << cell.label() << "\n\n";
        detail_table(out, rows, cell);
        out << "\n";
    }
    return out.str();
}

// A slide holds seven models side by side: more are shown on more slides,
// in the order of the course, the baseline on each.
std::vector<std::string> throughput_slides(const std::vector<BenchRow>& rows) {
    constexpr std::size_t kModelsPerSlide = 7;
    std::vector<std::string> models = models_of(rows);
    bool baseline = std::erase(models, std::string(kBaselineModel)) > 0;
    std::size_t room = kModelsPerSlide - (baseline ? 1 : 0);
    std::size_t count = std::max<std::size_t>(1, (models.size() + room - 1) / room);
    std::size_t per_slide = std::max<std::size_t>(1, (models.size() + count - 1) / count);
    std::vector<std::string> slides;
    for (std::size_t first = 0; slides.size() < count; first += per_slide) {
        std::vector<std::string> shown(
            models.begin() + static_cast<long>(std::min(models.size(), first)),
            models.begin() + static_cast<long>(std::min(models.size(), first + per_slide)));
        if (baseline) shown.push_back(kBaselineModel);
        std::ostringstream out;
        out << "## Throughput: requests/s (connections/s for churn)";
        if (count > 1) out << ", " << slides.size() + 1 << " of " << count;
        out << "\n\n";
        throughput_table(out, rows, shown);
        out << "\n\"N of M served\": the others waited or were refused. ᶜ: client-bound. ᵇ: the "
               "machine was busy.\n";
        slides.push_back(out.str());
    }
    return slides;
}

void write_compare_report(const ReportCommandLine& command_line) {
    auto read = [](const std::string& path) {
        return path.empty() ? std::vector<BenchRow>{} : read_bench_csv(path);
    };
    const std::string& csv_path = command_line.csv;
    const std::string& out_dir = command_line.out;
    std::vector<BenchRow> rows = read_bench_csv(csv_path);
    ExtraRuns extra{read(command_line.pairs), read(command_line.cpu_pairs),
                    read(command_line.churn_pairs), read(command_line.syscalls),
                    read(command_line.workers)};
    std::filesystem::create_directories(out_dir + "/plot-data");
    std::ofstream(out_dir + "/report.md") << markdown_report(rows, command_line.title, extra);
    std::vector<std::string> slides = throughput_slides(rows);
    for (std::size_t i = 0; i < slides.size(); ++i)  // throughput.md, throughput-2.md, ...
        std::ofstream(out_dir + "/throughput" + (i ? "-" + std::to_string(i + 1) : "") + ".md")
            << slides[i];

    std::ofstream gp(out_dir + "/plots.gp");
    gp << "# Written by `checker bench-report` from " << csv_path
       << ". Run it in this directory: gnuplot plots.gp\n"
       << "set encoding utf8\n\n";
    for (const PlannedPlot& plot : planned_plots(rows)) {
        for (std::size_t i = 0; i < plot.models.size(); ++i) {
            std::ofstream data(out_dir + "/" + plot.files[i]);
            data << "# " << plot.models[i] << ", " << plot.scenario << ": connections "
                 << plot.plot->column << "\n";
            for (const BenchRow& row : rows) {
                if (!plotted(row, plot.scenario, plot.models[i])) continue;
                double value = row.number(plot.plot->column) / plot.plot->unit;
                data << row.text("connections") << " " << value << "\n";
            }
        }
        write_plot(gp, *plot.plot, plot.scenario, plot.files, plot.models, models_of(rows),
                   plot.max_connections);
    }
}

int run_report_command(const ReportCommandLine& command_line) {
    try {
        write_compare_report(command_line);
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "checker: bench-report: " << error.what() << "\n";
        return 2;
    }
}

}  // namespace checker::bench
