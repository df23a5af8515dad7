#include "ctr/tty/scrollback.hpp"

#include <algorithm>

namespace ctr::tty {

scrollback::scrollback(std::size_t capacity) : capacity_(capacity) {}

void scrollback::append(std::string_view bytes, stream from) {
    const std::size_t cap = capacity_;
    if (cap == 0 || bytes.empty()) return;
    // Allocated at the first byte: a container that prints nothing costs no ring.
    if (buf_.empty()) buf_.resize(cap);
    if (from != stream::out && from_.empty()) from_.assign(cap, stream::out);
    // Of a chunk longer than the ring only its tail can survive; copying the rest would be
    // overwritten at once.
    if (bytes.size() >= cap) {
        bytes.remove_prefix(bytes.size() - cap);
        start_ = 0;
        size_ = 0;
    }
    std::size_t end = (start_ + size_) % cap;
    std::size_t first = std::min(bytes.size(), cap - end);
    std::copy_n(bytes.begin(), first, buf_.begin() + static_cast<std::ptrdiff_t>(end));
    std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(first), bytes.end(), buf_.begin());
    if (!from_.empty()) {
        std::fill_n(from_.begin() + static_cast<std::ptrdiff_t>(end), first, from);
        std::fill_n(from_.begin(), bytes.size() - first, from);
    }
    std::size_t total = size_ + bytes.size();
    if (total > cap) {
        start_ = (start_ + (total - cap)) % cap;
        size_ = cap;
    } else {
        size_ = total;
    }
}

std::vector<scrollback::piece> scrollback::pieces() const {
    std::vector<piece> out;
    if (size_ == 0) return out;
    if (from_.empty()) {
        out.push_back({stream::out, contents()});
        return out;
    }
    for (std::size_t i = 0; i < size_; ++i) {
        std::size_t at = (start_ + i) % capacity_;
        if (out.empty() || out.back().from != from_[at]) out.push_back({from_[at], {}});
        out.back().bytes.push_back(buf_[at]);
    }
    return out;
}

std::string scrollback::contents() const {
    std::string out;
    if (size_ == 0) return out;
    out.reserve(size_);
    std::size_t first = std::min(size_, buf_.size() - start_);
    out.append(buf_.data() + start_, first);
    out.append(buf_.data(), size_ - first);
    return out;
}

void scrollback::clear() {
    start_ = 0;
    size_ = 0;
}

} // namespace ctr::tty
