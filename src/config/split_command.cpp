#include "text.hpp"
#include <stdexcept>

#include "ctr/config/config.hpp"

namespace ctr::config {

std::vector<std::string> split_command(std::string_view s) {
    std::vector<std::string> words;
    std::string word;
    // '' and "" make an empty word, so "in a word" cannot be read off word.empty().
    bool in_word = false;
    auto end_word = [&] {
        if (in_word) words.push_back(std::move(word));
        word.clear();
        in_word = false;
    };

    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (is_blank(c)) {
            end_word();
            continue;
        }
        in_word = true;
        if (c == '\\') {
            if (++i == s.size()) throw std::invalid_argument("trailing backslash");
            word += s[i];
        } else if (c == '\'') {
            auto close = s.find('\'', i + 1);
            if (close == std::string_view::npos)
                throw std::invalid_argument("unterminated single quote");
            word += s.substr(i + 1, close - i - 1);
            i = close;
        } else if (c == '"') {
            for (++i;; ++i) {
                if (i == s.size()) throw std::invalid_argument("unterminated double quote");
                if (s[i] == '"') break;
                // As in sh: inside double quotes a backslash escapes only these, and is kept
                // before anything else.
                if (s[i] == '\\' && i + 1 < s.size() &&
                    std::string_view("\"\\$`").find(s[i + 1]) != std::string_view::npos)
                    ++i;
                word += s[i];
            }
        } else {
            word += c;
        }
    }
    end_word();
    return words;
}

} // namespace ctr::config
