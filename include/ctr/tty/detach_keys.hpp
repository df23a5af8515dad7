// Detach keys, Docker's way: a comma-separated sequence such as "ctrl-p,ctrl-q" (the default).
// Each key is `ctrl-<c>` for c in a-z, @, [, \, ], ^, _ (case-insensitive), or one printable
// ASCII character.
#pragma once

#include <string>
#include <string_view>

namespace ctr::tty {

inline constexpr std::string_view default_detach_keys = "ctrl-p,ctrl-q";

// The bytes the sequence types: "ctrl-p,ctrl-q" -> "\x10\x11". Throws ctr::error naming the
// bad key for an empty sequence or an unknown key.
std::string parse_detach_keys(std::string_view spec);

// Watches the client's input for the sequence. Bytes that may start the sequence are held back
// until it is complete (detach: they are never sent) or broken (they are sent, in order).
class detach_matcher {
  public:
    explicit detach_matcher(std::string sequence);
    struct result {
        std::string forward; // what to send to the container now
        bool detach = false; // the sequence was typed; input after it is dropped
    };
    result feed(std::string_view input);
    // What is held back, to send when input ends.
    std::string flush();

  private:
    std::string seq_;
    std::size_t matched_ = 0;
};

} // namespace ctr::tty
