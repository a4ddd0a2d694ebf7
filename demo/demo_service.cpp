// The README demo's target: a small "web service" that spends its CPU the way real ones do,
// serializing JSON, hashing payloads and formatting log lines, on a few worker threads.
// Usage: demo_service [SECONDS]   (default: run until killed)
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <pthread.h>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Order {
    int id;
    std::string customer;
    std::vector<double> prices;
    std::map<std::string, std::string> tags;
};

std::string escape_json_string(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 2);
    for (char c : text) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out;
}

__attribute__((noinline)) std::string serialize_order(const Order& order) {
    std::string json = "{\"id\":" + std::to_string(order.id) + ",\"customer\":\"" +
                       escape_json_string(order.customer) + "\",\"prices\":[";
    for (double price : order.prices)
        json += std::to_string(price) + ",";
    json += "],\"tags\":{";
    for (const auto& [key, value] : order.tags)
        json += "\"" + escape_json_string(key) + "\":\"" + escape_json_string(value) + "\",";
    return json + "}}";
}

__attribute__((noinline)) std::uint64_t checksum_payload(const std::string& payload) {
    std::uint64_t hash = 1469598103934665603ull;
    for (int round = 0; round < 8; ++round)
        for (unsigned char c : payload)
            hash = (hash ^ c) * 1099511628211ull;
    return hash;
}

__attribute__((noinline)) std::string format_log_line(int request, std::uint64_t checksum) {
    char line[128];
    std::snprintf(line, sizeof line, "INFO request=%d checksum=%016llx status=200", request,
                  static_cast<unsigned long long>(checksum));
    return line;
}

__attribute__((noinline)) std::size_t handle_request(int request) {
    Order order{request, "customer \"" + std::to_string(request % 97) + "\"", {}, {}};
    for (int i = 0; i < 200; ++i)
        order.prices.push_back(i * 1.25 + request);
    for (int i = 0; i < 20; ++i)
        order.tags["tag" + std::to_string(i)] = "value " + std::to_string(i * request);
    std::string payload = serialize_order(order);
    std::uint64_t checksum = checksum_payload(payload);
    return format_log_line(request, checksum).size() + payload.size();
}

std::atomic<bool> running{true};

void worker_loop(int worker) {
    volatile std::size_t bytes = 0;
    for (int request = worker; running; request += 4)
        bytes = bytes + handle_request(request);
}

} // namespace

int main(int argc, char** argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 0;
    std::vector<std::thread> workers;
    for (int worker = 0; worker < 2; ++worker) {
        workers.emplace_back(worker_loop, worker);
        pthread_setname_np(workers.back().native_handle(), ("worker-" + std::to_string(worker)).c_str());
    }
    if (seconds > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
        running = false;
    }
    for (auto& worker : workers)
        worker.join();
    return 0;
}
