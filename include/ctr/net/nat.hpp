// Masquerading for networks with `nat = true`, in one nftables table owned by this supervisor
// (named after its state dir): the supervisor never edits a rule it did not make, and removing
// the table removes every rule it added. IPv4 forwarding is switched on while any such network
// exists and given back its earlier value afterwards.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

struct nft_ctx; // libnftables, kept out of this header

namespace ctr::net {

struct nat_network {
    std::string name;   // [network NAME]
    std::string subnet; // "10.88.0.0/24"
    std::string bridge;
};

class nat {
  public:
    // `state_dir` names the table and keeps the earlier ip_forward value across a crash.
    explicit nat(const std::filesystem::path& state_dir);
    ~nat();
    nat(const nat&) = delete;
    nat& operator=(const nat&) = delete;

    const std::string& table() const { return table_; }
    // Replaces the table with one masquerading each network's subnet towards every interface
    // but its bridge, and accepting its forwarded traffic. An empty list removes the table.
    void apply(const std::vector<nat_network>& networks);
    // Removes the table (a crashed run's too) and restores ip_forward, when apply() recorded
    // that it made them; otherwise touches nothing. Idempotent.
    void remove();

  private:
    void run(const std::string& commands);
    std::string table_;
    std::filesystem::path forward_file_; // the ip_forward value before we changed it
    struct ctx_deleter {
        void operator()(::nft_ctx* c) const;
    };
    std::unique_ptr<::nft_ctx, ctx_deleter> ctx_;
};

} // namespace ctr::net
