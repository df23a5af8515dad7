#include "ctr/net/nat.hpp"

#include <nftables/libnftables.h>

#include "ctr/core/error.hpp"
#include "ctr/net/names.hpp"
#include "ctr/sys/files.hpp"

namespace ctr::net {

namespace fs = std::filesystem;

namespace {
const fs::path ip_forward = "/proc/sys/net/ipv4/ip_forward";

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}
} // namespace

void nat::ctx_deleter::operator()(nft_ctx* c) const {
    nft_ctx_free(c);
}

nat::nat(const fs::path& state_dir)
    : table_(fmt::format("ctr_supervisor_{:08x}",
                         static_cast<std::uint32_t>(fnv1a64(state_dir.string())))),
      forward_file_(state_dir / "ip_forward.saved"), ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
    if (!ctx_) fail("nftables: cannot create a context");
    nft_ctx_buffer_output(ctx_.get());
    nft_ctx_buffer_error(ctx_.get());
}

nat::~nat() = default;

void nat::run(const std::string& commands) {
    if (nft_run_cmd_from_buffer(ctx_.get(), commands.c_str()) != 0)
        fail("nftables: {}: {}", trimmed(commands.substr(0, commands.find('\n'))),
             trimmed(nft_ctx_get_error_buffer(ctx_.get())));
}

void nat::apply(const std::vector<nat_network>& networks) {
    if (networks.empty()) {
        remove();
        return;
    }
    // One transaction: the old table goes and the new one comes in a single step.
    std::string cmds = fmt::format("table ip {0}\ndelete table ip {0}\ntable ip {0} {{\n"
                                   "  chain postrouting {{ type nat hook postrouting priority "
                                   "srcnat; policy accept;\n",
                                   table_);
    for (auto& n : networks)
        cmds += fmt::format("    ip saddr {} oifname != \"{}\" masquerade comment \"{}\"\n",
                            n.subnet, n.bridge, n.name);
    cmds += "  }\n  chain forward { type filter hook forward priority filter; policy accept;\n";
    for (auto& n : networks)
        cmds += fmt::format("    iifname \"{0}\" accept\n"
                            "    oifname \"{0}\" ct state established,related accept\n",
                            n.bridge);
    cmds += "  }\n}\n";
    // Recorded first: a crash from here on leaves enough for the next start to undo it all.
    if (!fs::exists(forward_file_))
        sys::write_file_atomic(forward_file_, sys::read_file(ip_forward).value_or("0\n"));
    run(cmds);
    sys::write_file(ip_forward, "1\n");
}

void nat::remove() {
    // Nothing recorded, nothing of ours in nftables: leave it untouched.
    auto before = sys::read_file(forward_file_);
    if (!before) return;
    // "table" first makes the delete succeed whether or not it existed.
    run(fmt::format("table ip {0}\ndelete table ip {0}\n", table_));
    sys::write_file(ip_forward, *before);
    fs::remove(forward_file_);
}

} // namespace ctr::net
