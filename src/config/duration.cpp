#include <stdexcept>
#include <string>

#include "ctr/config/config.hpp"

namespace ctr::config {
namespace {

using std::chrono::milliseconds;

// Caps every duration well below where converting to nanoseconds or adding to a clock's now()
// could overflow.
constexpr milliseconds max_duration = std::chrono::hours(24 * 365);

constexpr const char* too_long = "too long (at most 8760h)";

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Milliseconds per unit, or 0 when the suffix is not a unit.
long long unit_ms(std::string_view unit) {
    if (unit.empty() || unit == "s") return 1000;
    if (unit == "ms") return 1;
    if (unit == "m") return 60 * 1000;
    if (unit == "h") return 60 * 60 * 1000;
    return 0;
}

} // namespace

milliseconds parse_duration(std::string_view s) {
    std::size_t i = 0;
    long long whole = 0;
    std::size_t digits = 0;
    for (; i < s.size() && is_digit(s[i]); ++i, ++digits) {
        whole = whole * 10 + (s[i] - '0');
        if (whole > max_duration.count()) throw std::invalid_argument(too_long);
    }
    // Fractions are truncated to the millisecond. Only 9 digits are kept, so the sums below cannot
    // overflow; a billionth of an hour is under 4 microseconds.
    long long frac = 0;
    long long frac_scale = 1;
    if (i < s.size() && s[i] == '.') {
        std::size_t first = ++i;
        for (; i < s.size() && is_digit(s[i]); ++i) {
            if (i - first < 9) {
                frac = frac * 10 + (s[i] - '0');
                frac_scale *= 10;
            }
        }
        if (i == first) throw std::invalid_argument("expected digits after '.'");
        digits += i - first;
    }
    if (digits == 0)
        throw std::invalid_argument("expected a number with an optional unit: ms, s, m, h");
    long long per_unit = unit_ms(s.substr(i));
    if (per_unit == 0) throw std::invalid_argument("unknown unit; expected ms, s, m or h");

    if (whole > max_duration.count() / per_unit) throw std::invalid_argument(too_long);
    long long total = whole * per_unit + frac * per_unit / frac_scale;
    if (total > max_duration.count()) throw std::invalid_argument(too_long);
    return milliseconds(total);
}

} // namespace ctr::config
