// The last bytes a container wrote to its terminal, replayed to a client when it attaches so
// the prompt and the last lines are on its screen at once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ctr::tty {

// A fixed-capacity byte ring: appending past the capacity forgets the oldest bytes. Its memory
// is allocated once, at construction.
class scrollback {
  public:
    explicit scrollback(std::size_t capacity = 64 * 1024);
    void append(std::string_view bytes);
    // Everything held, oldest first.
    std::string contents() const;
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return buf_.size(); }
    void clear();

  private:
    std::vector<char> buf_;
    std::size_t start_ = 0; // index of the oldest byte
    std::size_t size_ = 0;
};

} // namespace ctr::tty
