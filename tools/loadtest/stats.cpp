#include "stats.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace ctr::loadtest {
namespace {

// The number right after `key` in `line`, if any.
template <typename T> bool number_after(std::string_view line, std::string_view key, T& out) {
    auto pos = line.find(key);
    if (pos == std::string_view::npos) return false;
    auto rest = line.substr(pos + key.size());
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), out);
    return ec == std::errc{} && end != rest.data();
}

// "N packets transmitted, M packets received": the number before each phrase.
bool count_before(std::string_view line, std::string_view phrase, int& out) {
    auto pos = line.find(phrase);
    if (pos == std::string_view::npos) return false;
    auto start = line.find_last_not_of("0123456789", pos == 0 ? 0 : pos - 1);
    start = start == std::string_view::npos ? 0 : start + 1;
    auto digits = line.substr(start, pos - start);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return ec == std::errc{} && end == digits.data() + digits.size() && !digits.empty();
}

} // namespace

ping_run parse_ping_log(std::string_view text) {
    ping_run run;
    while (!text.empty()) {
        auto eol = text.find('\n');
        auto line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);

        double ms = 0;
        if (line.find("bytes from") != std::string_view::npos &&
            line.find("DUP!") == std::string_view::npos && number_after(line, "time=", ms))
            run.rtt_ms.push_back(ms);
        int sent = 0, received = 0;
        if (count_before(line, " packets transmitted", sent) &&
            count_before(line, " packets received", received)) {
            run.sent = sent;
            run.received = received;
            run.complete = true;
        }
    }
    return run;
}

double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
    return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

} // namespace ctr::loadtest
