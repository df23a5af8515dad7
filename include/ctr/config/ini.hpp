// A generic INI reader: `[kind]` or `[kind NAME]` headers, `key = value` lines, `#`/`;` comment
// lines. It knows nothing about what the sections mean; config.cpp gives them meaning.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ctr::config::ini {

struct entry {
    std::string key;
    std::string value; // trimmed; quotes and escapes are left for the key's parser
    int line = 0;
};

struct section {
    std::string kind; // "container" in `[container web]`
    std::string name; // "web"; empty in `[supervisor]`
    int line = 0;
    std::vector<entry> entries; // in file order, repeated keys kept
};

struct problem {
    int line = 0;
    std::string message;
};

struct document {
    std::vector<section> sections;
    std::vector<problem> problems; // malformed lines, in line order
};

// Never throws on bad input (only std::bad_alloc): a malformed line becomes a problem and reading
// goes on, so the caller can report every mistake in a file at once.
document read(std::string_view text);

} // namespace ctr::config::ini
