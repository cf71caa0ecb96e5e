"""``coinium wallet`` through click's CliRunner: create, list, address, and the errors a user meets.

balance, send and history need a node: the functional tests run them against a real one. Here
they are only driven as far as they go without a node (argument checks, the unreachable node).
"""

from __future__ import annotations

import socket
import stat

import click
import pytest
from click.testing import CliRunner

from coinium.core.params import REGTEST
from coinium.crypto.address import encode_address
from coinium.wallet import keystore, seed_sealing
from coinium.wallet.cli import PASSPHRASE_ENV, wallet_group

PASS = "Tr0ub4dor & horses"
# Hidden options that keep Argon2id cheap in tests (refused on main).
FAST = ["--kdf-opslimit", str(seed_sealing.MIN_OPSLIMIT),
        "--kdf-memlimit", str(seed_sealing.MIN_MEMLIMIT)]


@pytest.fixture
def base(tmp_path):
    return tmp_path / "coinium"


def wallet(base, *args, passphrase: str | None = PASS, network="regtest", stdin=None):
    env = {PASSPHRASE_ENV: passphrase}  # None removes the variable: the command prompts
    args = [*args, "--datadir", str(base), "--network", network]
    return CliRunner().invoke(wallet_group, args, env=env, input=stdin)


def create(base, name="alice", **kw):
    result = wallet(base, "create", name, *FAST, **kw)
    assert result.exit_code == 0, result.output
    return result


def assert_user_error(result, message):
    """Exit status 1, one line on stderr, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}"
    assert "Traceback" not in result.output


def test_create_prints_the_address_and_writes_a_private_file(base):
    result = create(base)
    path = base / "regtest" / "wallets" / "alice.wallet"
    loaded = keystore.load_wallet(base / "regtest", REGTEST, "alice")
    assert result.stdout.splitlines() == [
        f"Created wallet 'alice' on regtest: {path}",
        f"Receiving address: {loaded.receiving_address}",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert result.stderr == ""  # a good passphrase draws no warning
    assert PASS not in result.output


def test_create_prompts_with_confirmation_when_no_env(base):
    result = create(base, passphrase=None, stdin=f"{PASS}\n{PASS}\n")
    assert "Passphrase for the new wallet 'alice'" in result.stderr
    assert "Repeat for confirmation" in result.stderr
    assert PASS not in result.output  # hidden input is not echoed
    assert (base / "regtest" / "wallets" / "alice.wallet").exists()


def test_create_with_mismatched_confirmation_writes_nothing(base):
    result = wallet(base, "create", "alice", *FAST, passphrase=None, stdin=f"{PASS}\nother\n")
    assert result.exit_code != 0
    assert "do not match" in result.stderr
    assert not (base / "regtest" / "wallets" / "alice.wallet").exists()


def test_weak_passphrase_is_warned_not_refused(base):
    result = create(base, passphrase="password")
    assert "Warning: weak passphrase" in result.stderr
    assert "shorter than 12" in result.stderr and "most common" in result.stderr
    assert (base / "regtest" / "wallets" / "alice.wallet").exists()


def test_empty_passphrase_is_refused(base):
    result = wallet(base, "create", "alice", *FAST, passphrase="")
    assert_user_error(result, "a wallet needs a passphrase: an empty one is refused")
    assert not (base / "regtest" / "wallets").exists()


def test_invalid_name_is_refused(base):
    result = wallet(base, "create", "../evil", *FAST)
    assert_user_error(
        result,
        "invalid wallet name '../evil': use 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit",
    )
    assert not base.exists()


def test_create_twice_is_refused_before_asking(base):
    create(base)
    result = wallet(base, "create", "alice", *FAST, passphrase=None, stdin="")
    path = base / "regtest" / "wallets" / "alice.wallet"
    assert_user_error(result, f"a wallet named 'alice' already exists on regtest: {path}")
    assert "Passphrase" not in result.stderr


def test_weak_kdf_is_refused_on_main(base):
    result = wallet(base, "create", "alice", *FAST, network="main")
    assert_user_error(result, "a weaker key derivation than the default is refused on main")


def test_list_shows_wallets_without_passphrase(base):
    create(base, "bob")
    create(base, "alice")
    result = wallet(base, "list", passphrase=None)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["alice", "bob"]
    alice = keystore.load_wallet(base / "regtest", REGTEST, "alice")
    assert alice.receiving_address in lines[0] and "1 key " in lines[0]


def test_list_reports_a_corrupted_file_and_goes_on(base):
    create(base, "alice")
    create(base, "bob")
    (base / "regtest" / "wallets" / "alice.wallet").write_text("{")
    result = wallet(base, "list")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["bob"]
    assert "alice.wallet is corrupted: not valid JSON" in result.stderr


def test_list_is_per_network(base):
    create(base)
    result = wallet(base, "list", network="test")
    assert result.exit_code == 0 and result.stdout == ""
    assert "No wallets on test" in result.stderr


def test_default_datadir_is_home_dot_coinium(tmp_path):
    env = {"HOME": str(tmp_path), PASSPHRASE_ENV: PASS}
    runner = CliRunner()
    made = runner.invoke(wallet_group, ["create", "alice", *FAST, "--network", "regtest"], env=env)
    assert made.exit_code == 0, made.output
    assert (tmp_path / ".coinium" / "regtest" / "wallets" / "alice.wallet").exists()
    listed = runner.invoke(wallet_group, ["list", "--network", "regtest"], env=env)
    assert listed.stdout.startswith("alice ")


def test_address_prints_the_receiving_address_without_passphrase(base):
    create(base)
    loaded = keystore.load_wallet(base / "regtest", REGTEST, "alice")
    result = wallet(base, "address", "alice", passphrase=None)
    assert result.exit_code == 0, result.output
    assert result.stdout == loaded.receiving_address + "\n"


def test_address_new_adds_a_key_and_receiving_address_stays(base):
    create(base)
    first = wallet(base, "address", "alice").stdout.strip()
    result = wallet(base, "address", "alice", "--new", "--label", "savings")
    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert new.startswith("rcn1") and new != first
    assert "Back up the wallet file again" in result.stderr
    assert wallet(base, "address", "alice").stdout.strip() == first
    assert wallet(base, "address", "alice", "--all").stdout.splitlines() == [
        first,
        f"{new}  savings",
    ]


def test_address_new_with_wrong_passphrase_is_refused(base):
    create(base)
    before = (base / "regtest" / "wallets" / "alice.wallet").read_bytes()
    result = wallet(base, "address", "alice", "--new", passphrase="wrong passphrase!")
    assert_user_error(result, "wrong passphrase for wallet 'alice'")
    assert (base / "regtest" / "wallets" / "alice.wallet").read_bytes() == before


def test_missing_wallet_names_the_network_that_has_it(base):
    create(base)
    result = wallet(base, "address", "alice", network="test")
    path = base / "testnet" / "wallets" / "alice.wallet"
    assert_user_error(
        result, f"no wallet named 'alice' on test (looked for {path}); there is one on regtest "
        "(--network)"
    )  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_send_checks_the_recipient_before_contacting_the_node(base):
    create(base)
    main_address = encode_address("cn", bytes(range(20)))
    result = wallet(base, "send", "alice", main_address, "1.5", "--rpc-port", str(_closed_port()))
    assert_user_error(
        result,
        f"invalid recipient address {main_address!r}: address is for another network "
        "(prefix 'cn', this network uses 'rcn')",
    )
    typo = encode_address("rcn", bytes(range(20)))[:-1] + "q"
    result = wallet(base, "send", "alice", typo, "1.5")
    assert "checksum does not match" in result.stderr and result.exit_code == 1


@pytest.mark.parametrize(
    "amount, fee, message",
    [
        (
            "1.234567891",
            "0.0001",
            "invalid amount: amount '1.234567891' has more than 8 decimal places",
        ),
        ("1e5", "0.0001", "invalid amount: not an amount: '1e5'"),
        ("0", "0.0001", "invalid amount: it must be more than zero"),
        ("1", "abc", "invalid fee: not an amount: 'abc'"),
    ],
)
def test_send_checks_amounts(base, amount, fee, message):
    create(base)
    to = encode_address("rcn", bytes(range(20)))
    result = wallet(base, "send", "alice", to, amount, "--fee", fee)
    assert_user_error(result, message)


def test_send_from_an_address_not_in_the_wallet(base):
    create(base)
    to = encode_address("rcn", bytes(range(20)))
    result = wallet(base, "send", "alice", to, "1", "--from", to)
    assert_user_error(result, f"address {to} is not in wallet 'alice'")


VALIDATOR = encode_address("rcn", bytes(range(20)))


@pytest.mark.parametrize("command", [
    ["balance", "alice"],
    ["history", "alice"],
    # the staking and governance commands, as far as the nonce they ask the node for
    ["stake", "alice", "1"],
    ["delegate", "alice", VALIDATOR, "1"],
    ["unbond", "alice", VALIDATOR, "1"],
    ["withdraw", "alice", VALIDATOR],
    ["deposit", "alice", "1", "1"],
    ["vote", "alice", "1", "yes", "--validator", VALIDATOR],
])  # fmt: skip
def test_unreachable_node_is_one_clear_line(base, command):
    create(base)
    port = _closed_port()
    rpc = ["--rpc-port", str(port), "--rpc-user", "u", "--rpc-password", "p"]
    result = wallet(base, *command, *rpc)
    assert_user_error(
        result, f"cannot reach the node at http://127.0.0.1:{port}: is `coinium node` running?"
    )


@pytest.mark.parametrize("command", ["delegate", "unbond"])
def test_staking_checks_the_validator_address_first(base, command):
    main_address = encode_address("cn", bytes(range(20)))
    result = wallet(base, command, "alice", main_address, "1")  # no wallet, no node needed
    assert_user_error(
        result,
        f"invalid validator address {main_address!r}: address is for another network "
        "(prefix 'cn', this network uses 'rcn')",
    )


def test_missing_cookie_says_what_to_do(base):
    create(base)
    result = wallet(base, "balance", "alice", "--rpc-port", str(_closed_port()))
    assert result.exit_code == 1
    assert f"no RPC cookie at {base / 'regtest' / '.cookie'}" in result.stderr
    assert "--rpc-user" in result.stderr


def test_every_subcommand_takes_datadir_and_network():
    commands = list(wallet_group.commands.items())
    while commands:
        name, command = commands.pop()
        if isinstance(command, click.Group):  # `validator register`, `contract ...`: leaves
            commands += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
            continue
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert {"--datadir", "--network"} <= options, name
