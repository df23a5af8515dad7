#include "ctr/tty/scrollback.hpp"

#include <algorithm>

namespace ctr::tty {

scrollback::scrollback(std::size_t capacity) : capacity_(capacity) {}

void scrollback::append(std::string_view bytes) {
    const std::size_t cap = capacity_;
    if (cap == 0 || bytes.empty()) return;
    // Allocated at the first byte: a container that prints nothing costs no ring.
    if (buf_.empty()) buf_.resize(cap);
    // Of a chunk longer than the ring only its tail can survive; copying the rest would be
    // overwritten at once.
    if (bytes.size() >= cap) {
        std::copy(bytes.end() - static_cast<std::ptrdiff_t>(cap), bytes.end(), buf_.begin());
        start_ = 0;
        size_ = cap;
        return;
    }
    std::size_t end = (start_ + size_) % cap;
    std::size_t first = std::min(bytes.size(), cap - end);
    std::copy_n(bytes.begin(), first, buf_.begin() + static_cast<std::ptrdiff_t>(end));
    std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(first), bytes.end(), buf_.begin());
    std::size_t total = size_ + bytes.size();
    if (total > cap) {
        start_ = (start_ + (total - cap)) % cap;
        size_ = cap;
    } else {
        size_ = total;
    }
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
