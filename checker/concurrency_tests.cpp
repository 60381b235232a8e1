// concurrency: one client must not hold up the others.
#include "clients.hpp"
#include "probes.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <sys/select.h>

#include <cstdio>
#include <thread>
#include <chrono>
#include <vector>

namespace checker::tests {

namespace {

void test_idle_client(TestContext& context) {
    Connection idle = Connection::open(context.server, context.deadline);
    Connection second = Connection::open(context.server, context.deadline);
    std::string line = "am I served while the first client sits idle?\n";
    second.send(line, context.deadline);
    expect_reply(
        second, line, line, context.deadline,
        "A first client is connected and sends nothing. A server that blocks in recv() on it cannot "
        "answer anyone else: each client needs its own process or thread, or one thread that waits on "
        "all sockets at once (select, poll, epoll)");
    context.observed = "the second client was served while the first sat idle";
}

// `count` lines of 64 bytes, the same every time: what a client floods with.
std::string flood_block(const char* name, std::size_t count) {
    std::string block;
    for (std::size_t i = 0; i < count; ++i) {
        std::string line = std::string(name) + " " + std::to_string(1000000 + i).substr(1) + " ";
        line.resize(63, static_cast<char>('a' + i % 26));
        block += line + '\n';
    }
    return block;
}

// Sends `block` over and over without reading, until the server stops
// taking bytes for `stall`, `limit` bytes are sent, or `deadline`. Returns
// the number of bytes sent.
std::size_t flood_without_reading(Connection& client, std::string_view block, std::size_t limit,
                                  Duration stall, Deadline deadline) {
    std::size_t pushed = 0;
    Clock::time_point last_progress = Clock::now();
    while (pushed < limit && !deadline.passed() && Clock::now() - last_progress < stall) {
        std::size_t sent = client.send_some(block.substr(pushed % block.size()));
        pushed += sent;
        if (sent > 0) last_progress = Clock::now();
        else std::this_thread::sleep_for(1ms);
    }
    return pushed;
}

void test_slow_reader(TestContext& context) {
    // The slow reader floods lines and reads nothing, with a small receive
    // buffer: the server's replies to it soon cannot be written.
    Connection slow = Connection::open(context.server, context.deadline, 4096);
    std::string block = flood_block("slow", 16 * 1024);  // 1 MiB
    std::size_t pushed =
        flood_without_reading(slow, block, 64 << 20, 200ms, context.deadline.sooner(1500ms));

    Connection other = Connection::open(context.server, context.deadline);
    std::string line = "am I served while the other client does not read its replies?\n";
    other.send(line, context.deadline);
    expect_reply(
        other, line, line, context.deadline,
        str("Another client sent ", pushed >> 10,
            " KiB of lines and reads none of the "
            "replies. A server that writes with a blocking send() waits for that client to read, and serves "
            "nobody meanwhile: make the sockets non-blocking, keep the unsent replies in the connection's "
            "state, and write them when the socket is writable"));

    // Reading at last, the slow client must get every reply, in order: the
    // server paused it, it did not drop it.
    std::size_t answered = pushed / 64 * 64;
    ReadResult replies = slow.read_exact(answered, context.deadline);
    std::string expected;
    expected.reserve(answered);
    while (expected.size() < answered)
        expected.append(block, 0, std::min(block.size(), answered - expected.size()));
    std::string difference = describe_difference(expected, replies.data);
    if (!difference.empty())
        throw TestFailure(str(
            "a client sent ", pushed,
            " bytes of 64-byte lines without reading, then "
            "read the replies; ",
            difference, "; ", replies.how(),
            ". While a client does not "
            "read, the server may stop reading from it, but must resume once its replies drain (a loop "
            "must resume whoever waits for the socket to become writable: a coroutine or handler "
            "left waiting after the kernel reported it is a lost wake-up)"));
    context.observed = str("the other client was served while the slow one had ", pushed >> 10,
                           " KiB outstanding; all its replies came later");
}

constexpr int kManyClients = 500;

// Client `number`'s request: three lines of different lengths, cut into four
// pieces in the middle of lines.
std::vector<std::string> request_pieces(int number, std::string& whole) {
    std::string name = "client " + std::to_string(10000 + number).substr(1);
    whole.clear();
    for (int line = 1; line <= 3; ++line) {
        std::string text = str(name, " line ", line, " ");
        std::size_t filler = static_cast<std::size_t>((number * 7 + line * 13) % 90);
        text.resize(text.size() + filler, static_cast<char>('a' + line));
        whole += text + '\n';
    }
    std::size_t cut1 = 10, cut2 = whole.size() / 2, cut3 = whole.size() - 5;
    return {whole.substr(0, cut1), whole.substr(cut1, cut2 - cut1), whole.substr(cut2, cut3 - cut2),
            whole.substr(cut3)};
}

void fill_requests(std::vector<SwarmClient>& clients) {
    for (std::size_t i = 0; i < clients.size(); ++i) {
        std::string whole;
        clients[i].pieces = request_pieces(static_cast<int>(i), whole);
        clients[i].expected = whole;
    }
}

void test_many_clients(TestContext& context) {
    ensure_own_descriptor_limit(kManyClients + 64);
    std::vector<SwarmClient> clients = open_swarm(context.server, kManyClients, context.deadline);
    fill_requests(clients);
    SwarmCount count = run_swarm(clients, 20ms, context.deadline);
    context.observed = str(kManyClients, " clients at once: ", count.str());
    if (count.served == kManyClients) return;
    std::string message =
        str(kManyClients,
            " clients connected at once, each sent three lines in four "
            "pieces cut mid-line, all clients' first pieces before anyone's second: ",
            count.str());
    if (count.wrong > 0)
        throw TestFailure(
            message + ". First wrong: " + count.first_wrong +
            ". Each connection needs its own partial "
            "line and its own pending replies, kept in a per-connection struct: a buffer shared by "
            "all connections mixes their bytes");
    throw TestFailure(
        message +
        ". Every client must be served while the others are connected: an event loop "
        "watches every connection in each wait, and accepts every client waiting in the backlog");
}

void test_stalled_half_line(TestContext& context) {
    Connection stalled = Connection::open(context.server, context.deadline);
    std::string first_half = "the first half of a line, ";
    std::string second_half = "and the rest of it\n";
    stalled.send(first_half, context.deadline);
    std::this_thread::sleep_for(100ms);  // time for the server to start reading it
    Connection second = Connection::open(context.server, context.deadline);
    std::string line = "am I served while the first client is in the middle of a line?\n";
    second.send(line, context.deadline);
    expect_reply(
        second, line, line, context.deadline,
        "A first client sent half a line, without its '\\n', and stopped. A server that, once a client "
        "has sent something, reads on until the end of the line (a blocking recv() loop) is stuck with it: "
        "readable means some bytes have arrived, not a whole line. Each client needs its own process or "
        "thread, or an event loop that keeps each client's partial line and goes back to waiting");
    stalled.send(second_half, context.deadline);
    expect_reply(
        stalled,
        first_half + second_half + " (in two parts, the second after the other client was served)",
        first_half + second_half, context.deadline,
        "The first half of the line must be kept until the rest arrives");
    context.observed = "the second client was served while the first had sent half a line";
}

constexpr int kCrowd = 100;

// Three lines of about 100 bytes, different for every client, so that bytes
// delivered to the wrong connection are noticed.
std::string message_of_client(int client) {
    std::string message;
    for (int line = 1; line <= 3; ++line) {
        std::string text = str("client ", client, " line ", line, " ");
        text.resize(100, static_cast<char>('a' + (client + line) % 26));
        message += text + "\n";
    }
    return message;
}

void test_hundred_clients(TestContext& context) {
    std::vector<SwarmClient> clients = open_swarm(context.server, kCrowd, context.deadline);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i].pieces = {message_of_client(static_cast<int>(i) + 1)};
        clients[i].expected = clients[i].pieces[0];
    }
    SwarmCount count = run_swarm(clients, 0s, context.deadline);
    context.observed = str(count.served, " of ", kCrowd, " clients got their lines back");
    if (count.served == kCrowd) return;
    throw TestFailure(str(
        kCrowd, " clients connected, then each sent 3 lines of its own (",
        clients[0].expected.size(), " bytes) and all stayed connected; ", count.served,
        " got their lines back byte for byte (", count.str(), ")",
        (count.first_wrong.empty() ? "" : "; " + count.first_wrong),
        ". A server that serves a fixed number of clients at a time (a pool of threads or "
        "processes each blocked on one client) makes the others wait; bytes from another client's "
        "lines mean state shared between connections"));
}

// Several clients stall in the middle of a line, more of them than a pool of
// blocking handlers would have threads. The server is started with --workers 4.
constexpr int kSlowClients = 8;

void test_slow_clients(TestContext& context) {
    std::vector<Connection> slow;
    std::vector<std::string> lines;
    for (int i = 0; i < kSlowClients; ++i) {
        slow.push_back(Connection::open(context.server, context.deadline));
        lines.push_back(str("slow client ", i, " has finished typing\n"));
        slow.back().send(std::string_view(lines.back()).substr(0, 16),
                         context.deadline);  // mid-line
    }
    std::this_thread::sleep_for(50ms);  // the server has read every partial line by now
    Connection other = Connection::open(context.server, context.deadline);
    std::string line = "am I served while 8 clients are stuck mid-line?\n";
    other.send(line, context.deadline);
    expect_reply(
        other, line, line, context.deadline,
        str(kSlowClients,
            " clients are connected and each stopped in the middle of a line "
            "(the server was started with --workers 4). A thread that waits in recv() for one client's next "
            "byte serves nobody else: a fixed pool of such threads is frozen by as many slow clients as it has "
            "threads. The loop must wait for every socket, and a worker must only ever be handed a connection "
            "that is ready"));
    for (std::size_t i = 0; i < slow.size(); ++i) {
        slow[i].send(std::string_view(lines[i]).substr(16), context.deadline);
        expect_reply(slow[i], lines[i] + " (in two pieces, the second long after the first)",
                     lines[i], context.deadline,
                     "A line that arrives in pieces is answered once its '\\n' comes");
    }
    context.observed = str("another client was served while ", kSlowClients,
                           " sat mid-line; then all of them were answered");
}

// The overlap probe: clients send one request each at the same moment to a
// server started with --delay-us (every request sleeps that long, like a
// database query). The requests in service at once, on average, are the sum
// of their service times (each the delay) over the wall time of the whole.
constexpr int kOverlapClients = 8;
constexpr long kOverlapDelayUs = 100'000;
constexpr int kOverlapWorkers = 4;
const std::vector<std::string> kOverlapArguments{"--delay-us", std::to_string(kOverlapDelayUs),
                                                 "--workers", std::to_string(kOverlapWorkers)};

struct Overlap {
    double in_service = 0;  // requests in service at once, on average
    Duration wall{};
    std::string str() const {
        char text[160];
        std::snprintf(text, sizeof text,
                      "%d requests of %ld ms each took %.2f s in all: %.1f in service at once",
                      kOverlapClients, kOverlapDelayUs / 1000, seconds(wall), in_service);
        return text;
    }
};

Overlap measure_overlap(TestContext& context) {
    std::vector<SwarmClient> clients =
        open_swarm(context.server, kOverlapClients, context.deadline);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i].pieces = {str("request ", i, ", served after a 100 ms wait\n")};
        clients[i].expected = clients[i].pieces.front();
        clients[i].half_close =
            true;  // one request per client: a server serving one client at a time moves on
    }
    // Time for the server to take up every connection (accept it, start a
    // thread or process for it), so that only the requests are timed.
    std::this_thread::sleep_for(100ms);
    Clock::time_point start = Clock::now();
    SwarmCount count = run_swarm(clients, 0s, context.deadline);
    Overlap overlap;
    overlap.wall = Clock::now() - start;
    if (count.served != kOverlapClients)
        throw TestFailure(
            str(kOverlapClients,
                " clients sent one request each at the same moment to a "
                "server started with --delay-us ",
                kOverlapDelayUs, ", then half-closed: ", count.str(),
                (count.wrong ? ". First wrong: " + count.first_wrong : std::string()),
                ". Every request must be answered, however long its processing takes"));
    overlap.in_service = kOverlapClients * (kOverlapDelayUs / 1e6) / seconds(overlap.wall);
    return overlap;
}

std::string overlap_situation(const Overlap& overlap) {
    return str(kOverlapClients,
               " clients sent one request each at the same moment to a server started "
               "with --delay-us ",
               kOverlapDelayUs, " (each request waits ", kOverlapDelayUs / 1000,
               " ms, like a database query): ", overlap.str());
}

// A model with a thread or process per client overlaps every request.
void test_overlap(TestContext& context) {
    Overlap overlap = measure_overlap(context);
    context.observed = overlap.str();
    if (overlap.in_service < kOverlapClients * 0.75)
        throw TestFailure(str(
            overlap_situation(overlap), "; about ", kOverlapClients,
            " were expected. "
            "While one request waits, the others must go on: a model that serves each client in its "
            "own thread or process overlaps them all; one thread serving everyone (or a lock held "
            "around the work) serves them one after the other"));
}

// A pool overlaps as many requests as it has workers, and no more.
void test_overlap_pool(TestContext& context) {
    Overlap overlap = measure_overlap(context);
    context.observed = str(overlap.str(), " (--workers ", kOverlapWorkers, ")");
    if (overlap.in_service < kOverlapWorkers * 0.75)
        throw TestFailure(str(
            overlap_situation(overlap), "; with --workers ", kOverlapWorkers, ", about ",
            kOverlapWorkers,
            " were expected. A blocking call on the "
            "loop's thread (here the request's work) stops the whole loop: every client waits. The "
            "loop must only wait, accept and hand ready connections over; the workers run the "
            "requests"));
    if (overlap.in_service > kOverlapWorkers + 0.5)
        throw TestFailure(str(overlap_situation(overlap), "; with --workers ", kOverlapWorkers,
                              " no more than ", kOverlapWorkers,
                              " can be: the requests must run "
                              "on the pool's --workers threads, not on threads of their own"));
}

// The C10K probe: ten thousand connections open at once, a sample of them
// spread across the range exchanging lines. The checker drives its clients
// from its own single thread; the server may open a few more descriptors than
// it needs.
constexpr int kC10kClients = 10'000;
constexpr int kC10kSample = 100;
constexpr int kC10kDescriptorLimit = kC10kClients + 512;

// Opens one more client. The kernel completes a loopback handshake without the
// server, as long as its listen backlog has room; a SYN that finds the backlog
// full is dropped, and TCP would send it again only after 1 s. A server that
// fell behind for a moment (descheduled while the checker connects as fast as
// it can) has drained its backlog by then, so the client tries once more with
// a new connection; a server that stopped accepting fails both tries.
bool open_one_more(const TestContext& context, Connection& client, std::string& stalled) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        stalled.clear();
        if (Connection::try_open(context.server, context.deadline.sooner(1s), client, stalled))
            return true;
    }
    stalled += "; tried twice, 1 s each";
    return false;
}

// What ten thousand idle connections may cost the server in memory of its
// own (the kernel's socket buffers are not counted): 6.5 KiB each.
constexpr long kC10kMemoryBoundKib = 64 * 1024;

void expect_memory_bounded(TestContext& context, std::string& situation, long before) {
    long grown_kib = context.process->resident_kib() - before;
    if (before < 0 || grown_kib < 0) return;  // /proc had nothing to say: the server ended
    situation += str("; its resident memory grew by ", grown_kib / 1024, " MiB");
    context.observed = situation;
    if (grown_kib <= kC10kMemoryBoundKib) return;
    throw TestFailure(str(
        "with ", situation, ", past the bound of ", kC10kMemoryBoundKib / 1024, " MiB (",
        grown_kib / kC10kClients,
        " KiB for each idle connection). What every idle connection "
        "holds is multiplied by ten thousand: a read buffer of its own, for instance. Hold a buffer "
        "only while bytes are in it (io_uring: a ring of provided buffers that the connections "
        "share)"));
}

void test_c10k(TestContext& context) {
    ensure_own_descriptor_limit(kC10kClients + 256);
    std::this_thread::sleep_for(
        100ms);  // the checker's probe connection (is it listening?) closes first
    int baseline = context.process->open_descriptors();
    long memory_before = context.process->resident_kib();
    std::vector<Connection> clients;
    clients.reserve(kC10kClients);
    std::string stalled;
    for (int i = 0; i < kC10kClients && stalled.empty(); ++i) {
        Connection client;
        if (open_one_more(context, client, stalled)) clients.push_back(std::move(client));
    }
    int opened = static_cast<int>(clients.size());
    std::optional<int> held = descriptors_gained(
        baseline, settled_count(*context.process, baseline + opened, context.deadline));
    std::string situation =
        str(opened, " connections open at once (",
            (held ? str("the server held ", *held)
                  : std::string("its descriptors could not be counted: it had ended")),
            ")");
    context.observed = situation;
    if (!context.process->running())
        throw TestFailure("with " + situation + ", the server " +
                          context.process->exit_description());
    if (opened < kC10kClients)
        throw TestFailure(str(
            situation, "; connection ", opened + 1, " failed: ", stalled,
            ". The "
            "server stopped accepting, and the kernel's listen backlog filled up. A server for ten "
            "thousand clients accepts every one of them and watches them all at once, at a cost per "
            "wakeup that does not grow with their number"));

    expect_memory_bounded(context, situation, memory_before);

    // The sample: clients spread over the whole range, the last one included.
    std::vector<SwarmClient> sample(kC10kSample);
    for (int k = 0; k < kC10kSample; ++k) {
        int index = (opened - 1) - k * (opened / kC10kSample);
        SwarmClient& client = sample[static_cast<std::size_t>(k)];
        client.connection = std::move(clients[static_cast<std::size_t>(index)]);
        std::string line = str("c10k client ", index, " of ", opened, "\n");
        client.pieces = {line.substr(0, 9), line.substr(9)};
        client.expected = line;
    }
    SwarmCount count = run_swarm(sample, 20ms, context.deadline);
    context.observed =
        str(situation, "; a sample of ", kC10kSample, " spread across them: ", count.str());
    for (Connection& client : clients) client.reset();  // RST: no 10,000 sockets left in TIME_WAIT
    if (count.served == kC10kSample) return;
    std::string message = str("with ", situation, ", a sample of ", kC10kSample,
                              " of them, spread "
                              "over the whole range, each sent a line in two pieces: ",
                              count.str());
    if (count.wrong > 0) message += ". First wrong: " + count.first_wrong;
    throw TestFailure(
        message +
        ". Every connection the server accepts must be served, the ten-thousandth as well "
        "as the first: select() cannot watch a descriptor past FD_SETSIZE (1024), and a table of "
        "fixed size refuses the rest");
}

}  // namespace

const TestCase stalled_half_line{
    .name = "stalled_half_line",
    .category = Category::Concurrency,
    .checks = "a second client is served while a first one stops in the middle of a line",
    .run = test_stalled_half_line,
};
const TestCase hundred_clients{
    .name = "hundred_clients",
    .category = Category::Concurrency,
    .checks = "100 clients connected at once, each gets its own 3 lines back byte for byte",
    .run = test_hundred_clients,
};
const TestCase slow_clients{
    .name = "slow_clients",
    .category = Category::Concurrency,
    .checks = "8 clients stop mid-line (server run with --workers 4); another is served meanwhile",
    .run = test_slow_clients,
    .arguments = {"--workers", "4"},
};
const TestCase overlap{
    .name = "overlap",
    .category = Category::Concurrency,
    .checks = "8 requests at once, each waiting 100 ms (--delay-us): about 8 in service at once",
    .run = test_overlap,
    .arguments = kOverlapArguments,
};
const TestCase overlap_pool{
    .name = "overlap_pool",
    .category = Category::Concurrency,
    .checks = "8 requests at once, each waiting 100 ms, --workers 4: about 4 in service at once",
    .run = test_overlap_pool,
    .arguments = kOverlapArguments,
};
const TestCase c10k{
    .name = "c10k",
    .category = Category::Concurrency,
    .checks = "10,000 connections open at once; a sample of 100 across them served byte-exact",
    .run = test_c10k,
    .needs_process = true,
    .limits = {.open_files = kC10kDescriptorLimit},
};

const TestCase idle_client{
    .name = "idle_client",
    .category = Category::Concurrency,
    .checks = "a second client is served while a first one sits idle",
    .run = test_idle_client,
};
const TestCase slow_reader{
    .name = "slow_reader",
    .category = Category::Concurrency,
    .checks =
        "a client floods without reading; another is served meanwhile, and the flood's replies "
        "all come later",
    .run = test_slow_reader,
};
const TestCase many_clients{
    .name = "many_clients",
    .category = Category::Concurrency,
    .checks = "500 clients at once, lines cut mid-way and interleaved: every reply byte-exact",
    .run = test_many_clients,
};
}  // namespace checker::tests
