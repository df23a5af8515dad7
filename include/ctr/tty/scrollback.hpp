// The last bytes a container wrote to its terminal, replayed to a client when it attaches so
// the prompt and the last lines are on its screen at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ctr::tty {

enum class stream : std::uint8_t { out, err };

// A fixed-capacity byte ring: appending past the capacity forgets the oldest bytes. Its memory
// is allocated once, at the first append (100 idle containers hold no rings). Which stream each
// byte came from is kept too, from the first stderr byte on, so that a pipe container's stderr
// is replayed as stderr; a terminal, which has only one stream, never pays for it.
class scrollback {
  public:
    explicit scrollback(std::size_t capacity = 64 * 1024);
    void append(std::string_view bytes, stream from = stream::out);
    // Everything held, oldest first.
    std::string contents() const;
    struct piece {
        stream from;
        std::string bytes;
    };
    // The same, split where the stream changes.
    std::vector<piece> pieces() const;
    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }
    void clear();

  private:
    std::size_t capacity_;
    std::vector<char> buf_;
    std::vector<stream> from_; // beside buf_ once a stderr byte came; empty: all stdout
    std::size_t start_ = 0;    // index of the oldest byte
    std::size_t size_ = 0;
};

} // namespace ctr::tty
