#include "ctr/tty/detach_keys.hpp"

#include <algorithm>
#include <utility>

#include "ctr/core/error.hpp"

namespace ctr::tty {
namespace {

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// The byte a key types, or -1. Control characters are the key's ASCII code with bits 5 and 6
// cleared: ctrl-@ is NUL, ctrl-a..ctrl-z are 1..26, ctrl-[ is ESC ... ctrl-_ is 31.
int key_byte(std::string_view key) {
    constexpr std::string_view ctrl = "ctrl-";
    if (key.size() == ctrl.size() + 1 && iequals(key.substr(0, ctrl.size()), ctrl)) {
        char c = lower(key.back());
        if (c >= 'a' && c <= 'z') return c - 'a' + 1;
        constexpr std::string_view symbols = "@[\\]^_";
        if (symbols.find(c) != std::string_view::npos) return c & 0x1f;
        return -1;
    }
    // Space and ',' cannot be keys: around and between keys they are syntax.
    if (key.size() == 1 && key[0] > ' ' && key[0] < 0x7f) return key[0];
    return -1;
}

} // namespace

std::string parse_detach_keys(std::string_view spec) {
    if (trim(spec).empty()) fail("detach keys '{}': empty, expected keys like ctrl-p,ctrl-q", spec);
    std::string out;
    std::size_t pos = 0;
    while (true) {
        std::size_t comma = spec.find(',', pos);
        std::string_view key = trim(spec.substr(pos, comma - pos));
        if (key.empty()) fail("detach keys '{}': an empty key between commas", spec);
        int byte = key_byte(key);
        if (byte < 0)
            fail("detach keys '{}': unknown key '{}': expected ctrl-a ... ctrl-z, ctrl-@, "
                 "ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ or one printable character",
                 spec, key);
        out.push_back(static_cast<char>(byte));
        if (comma == std::string_view::npos) return out;
        pos = comma + 1;
    }
}

detach_matcher::detach_matcher(std::string sequence) : seq_(std::move(sequence)) {}

// matched_ counts the bytes held back: they always equal the sequence's first matched_ bytes,
// so they need no buffer of their own. matched_ == seq_.size() means the sequence was typed.
detach_matcher::result detach_matcher::feed(std::string_view input) {
    result r;
    if (seq_.empty()) {
        r.forward.assign(input);
        return r;
    }
    if (matched_ == seq_.size()) {
        r.detach = true;
        return r;
    }
    for (std::size_t i = 0; i < input.size(); ++i) {
        if (matched_ == 0) {
            // Nothing held: everything before the sequence's first byte goes as one block, so
            // piped input is not judged byte by byte.
            std::size_t next = input.find(seq_[0], i);
            if (next == std::string_view::npos) next = input.size();
            r.forward.append(input.substr(i, next - i));
            if (next == input.size()) break;
            i = next;
        }
        char c = input[i];
        if (seq_[matched_] == c) {
            if (++matched_ == seq_.size()) {
                r.detach = true;
                return r; // the rest of the input is dropped
            }
            continue;
        }
        // Broken: of the held bytes plus this one, keep the longest tail that still starts the
        // sequence (typing ctrl-p ctrl-p ctrl-q for ctrl-p,ctrl-q must detach) and send the
        // rest, in order.
        std::string held = seq_.substr(0, matched_);
        held.push_back(c);
        std::size_t keep = held.size() - 1;
        while (keep > 0 && std::string_view(held).substr(held.size() - keep) !=
                               std::string_view(seq_).substr(0, keep))
            --keep;
        r.forward.append(held, 0, held.size() - keep);
        matched_ = keep;
    }
    return r;
}

std::string detach_matcher::flush() {
    if (matched_ == seq_.size()) return {};
    return seq_.substr(0, std::exchange(matched_, 0));
}

} // namespace ctr::tty
