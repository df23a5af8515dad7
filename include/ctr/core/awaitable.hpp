// The completion tokens the coroutines use, in one place: Debian 12's Asio (1.22) keeps as_tuple
// under experimental, later versions under asio::.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace ctr {

// Completes with (error_code, results...) instead of throwing.
inline constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

} // namespace ctr

#include <exception>
#include <string>
#include <system_error>

#include "ctr/core/log.hpp"

namespace ctr {

// The message of an exception escaping a coroutine; empty for none or a plain cancellation.
inline std::string escaped(std::exception_ptr e) {
    if (!e) return {};
    try {
        std::rethrow_exception(e);
    } catch (const std::system_error& err) {
        if (err.code() == std::errc::operation_canceled) return {};
        return err.what();
    } catch (const std::exception& err) {
        return err.what();
    } catch (...) {
        return "unknown exception";
    }
}

// A co_spawn completion handler: nothing spawned is silently detached; what escapes is logged.
inline auto log_escape(std::string subject, std::string what) {
    return [subject = std::move(subject), what = std::move(what)](std::exception_ptr e) {
        if (auto msg = escaped(e); !msg.empty()) log::error(subject, "{}: {}", what, msg);
    };
}

} // namespace ctr
