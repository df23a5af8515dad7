// The last bytes a container wrote to its terminal, replayed to a client when it attaches so
// the prompt and the last lines are on its screen at once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ctr::tty {

// A fixed-capacity byte ring: appending past the capacity forgets the oldest bytes. Its memory
// is allocated once, at the first append (100 idle containers hold no rings).
class scrollback {
  public:
    explicit scrollback(std::size_t capacity = 64 * 1024);
    void append(std::string_view bytes);
    // Everything held, oldest first.
    std::string contents() const;
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }
    void clear();

  private:
    std::size_t capacity_;
    std::vector<char> buf_;
    std::size_t start_ = 0; // index of the oldest byte
    std::size_t size_ = 0;
};

} // namespace ctr::tty
