"""A local x402 facilitator: the public facilitator's HTTP API over an in-memory USDC chain.

Production talks to https://x402.org/facilitator (or another facilitator) through the SDK's
HTTP facilitator client; pointing `RELAY_X402_FACILITATOR_URL` here is the only change. The
routes and bodies are the facilitator's: `POST /verify` and `POST /settle` take
`{"x402Version", "paymentPayload", "paymentRequirements"}` and answer 200 with the SDK's
VerifyResponse / SettleResponse JSON (a refused payment is `isValid: false` /
`success: false` with a reason code), 400 for a body that does not parse, 500 for a bug;
`GET /supported` lists the one `exact` kind (x402 version 2) on the configured network.

Verification is the SDK's own facilitator-side exact EVM scheme (`x402FacilitatorSync` with
`ExactEvmFacilitatorScheme`), run against `LocalChain`, a FacilitatorEvmSigner whose only
contract is a USDC that behaves like FiatTokenV2 for EIP-3009: `transferWithAuthorization`
recovers the EIP-712 signer with eth_account and reverts with USDC's messages when the
authorization is not yet valid, expired, already used, wrongly signed or not covered by the
balance. A nonce is used once per payer; every address starts with the configured balance;
a transfer moves balances, mints a deterministic fake transaction hash and a receipt with the
ERC-20 Transfer log. A write is simulated before it is "broadcast" (as viem's gas estimate
does), so settling a used authorization fails with `invalid_exact_evm_nonce_already_used`
and changes nothing. State lives in memory behind one lock.

Run `python -m infra.local.x402_facilitator --host 127.0.0.1 --port 12113 [--network
eip155:84532] [--asset 0x...] [--initial-balance-usdc 1000000]`. In process: `create_app(...)`;
its chain is `app.extensions[EXTENSION_KEY]`. Test helpers (no protocol meaning):
`GET /_local/balances/<address>` and `POST /_local/balances/<address>` `{"balanceAtomic": n}`.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import flask
from eth_abi import decode, encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from x402 import x402FacilitatorSync
from x402.mechanisms.evm import constants as evm
from x402.mechanisms.evm.default_assets import find_default_asset
from x402.mechanisms.evm.exact import ExactEvmFacilitatorScheme
from x402.mechanisms.evm.types import AUTHORIZATION_TYPES, DOMAIN_TYPES, TransactionReceipt
from x402.mechanisms.evm.utils import get_evm_chain_id
from x402.mechanisms.evm.verify import verify_typed_data_strict
from x402.schemas import (
    PaymentError,
    SchemeNotFoundError,
    SettleResponse,
    VerifyResponse,
    parse_payment_payload,
    parse_payment_requirements,
)

from infra.local.serving import configure_logging, serve_until_signalled

log = logging.getLogger("x402-local")

DEFAULT_NETWORK = "eip155:84532"
DEFAULT_ASSET = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"  # USDC on Base Sepolia
DEFAULT_INITIAL_BALANCE_USDC = 1_000_000
USDC_DECIMALS = 6
EXTENSION_KEY = "relay.x402_facilitator"
# The facilitator's own (gas-paying) account: a local-only address, it signs nothing here.
FACILITATOR_ADDRESS = to_checksum_address("0x" + keccak(text="relay-local-x402")[-20:].hex())
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TOKEN_ABIS = (
    evm.BALANCE_OF_ABI,
    evm.NAME_ABI,
    evm.VERSION_ABI,
    evm.AUTHORIZATION_STATE_ABI,
    evm.TRANSFER_WITH_AUTHORIZATION_VRS_ABI,
    evm.TRANSFER_WITH_AUTHORIZATION_BYTES_ABI,
)
_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


class Reverted(Exception):
    """A contract call reverted; worded like a node's error so the SDK can classify it."""

    def __init__(self, reason: str):
        super().__init__(f"execution reverted: {reason}")
        self.reason = reason


class LocalChain:
    """One EVM chain holding one EIP-3009 token, as the SDK's FacilitatorEvmSigner sees it."""

    def __init__(
        self, *, network: str, asset: str, token_name: str, token_version: str, initial: int
    ):
        self.network = network
        self.chain_id = get_evm_chain_id(network)
        self.token = to_checksum_address(asset)
        self.token_name = token_name
        self.token_version = token_version
        self.initial = initial
        self._lock = threading.Lock()
        self._balances: dict[str, int] = {}
        self._used: set[tuple[str, bytes]] = set()
        self._receipts: dict[str, TransactionReceipt] = {}
        self._block = 1

    # --- state --------------------------------------------------------------------------

    def balance(self, address: str) -> int:
        with self._lock:
            return self._balances.get(to_checksum_address(address), self.initial)

    def set_balance(self, address: str, atomic: int) -> None:
        with self._lock:
            self._balances[to_checksum_address(address)] = atomic

    # --- the token contract -------------------------------------------------------------

    def _transfer_with_authorization(self, args: Sequence[Any], *, commit: bool) -> str | None:
        """FiatTokenV2's transferWithAuthorization (both overloads); reverts like it. Locked."""
        if len(args) == 9:  # (..., nonce, v, r, s)
            *head, v, r, s = args
            signature = bytes(r) + bytes(s) + bytes([int(v)])
        elif len(args) == 7:  # (..., nonce, signature)
            *head, signature = args
        else:
            raise Reverted("bad arguments")
        sender, to = to_checksum_address(head[0]), to_checksum_address(head[1])
        value, valid_after, valid_before, nonce = int(head[2]), head[3], head[4], bytes(head[5])
        now = int(time.time())
        if now <= int(valid_after):
            raise Reverted("FiatTokenV2: authorization is not yet valid")
        if now >= int(valid_before):
            raise Reverted("FiatTokenV2: authorization is expired")
        if (sender, nonce) in self._used:
            raise Reverted("FiatTokenV2: authorization is used or canceled")
        message = {
            "from": sender,
            "to": to,
            "value": value,
            "validAfter": int(valid_after),
            "validBefore": int(valid_before),
            "nonce": nonce,
        }
        if self._signer_of(message, bytes(signature)) != sender:
            raise Reverted("FiatTokenV2: invalid signature")
        if int(to, 16) == 0:
            raise Reverted("ERC20: transfer to the zero address")
        if self._balances.get(sender, self.initial) < value:
            raise Reverted("ERC20: transfer amount exceeds balance")
        if not commit:
            return None
        self._used.add((sender, nonce))
        self._balances[sender] = self._balances.get(sender, self.initial) - value
        self._balances[to] = self._balances.get(to, self.initial) + value
        return self._mine(sender, to, value, nonce)

    def _signer_of(self, message: dict[str, Any], signature: bytes) -> str | None:
        """The EIP-712 signer of a TransferWithAuthorization under this token's domain."""
        if len(signature) != 65:  # no smart-contract wallets on this chain
            return None
        domain = {
            "name": self.token_name,
            "version": self.token_version,
            "chainId": self.chain_id,
            "verifyingContract": self.token,
        }
        typed = {
            "types": {**DOMAIN_TYPES, **AUTHORIZATION_TYPES},
            "primaryType": "TransferWithAuthorization",
            "domain": domain,
            "message": message,
        }
        try:
            signable = encode_typed_data(full_message=typed)
            return to_checksum_address(Account.recover_message(signable, signature=signature))
        except Exception:  # ecrecover of garbage yields no address, it does not throw
            return None

    def _mine(self, sender: str, to: str, value: int, nonce: bytes) -> str:
        identity = [self.chain_id, self.token, sender, nonce]
        tx_hash = (
            "0x" + keccak(encode(["uint256", "address", "address", "bytes32"], identity)).hex()
        )
        transfer_log = {
            "address": self.token,
            "topics": [_TRANSFER_TOPIC, _topic(sender), _topic(to)],
            "data": "0x" + encode(["uint256"], [value]).hex(),
        }
        self._block += 1
        self._receipts[tx_hash] = TransactionReceipt(
            status=evm.TX_STATUS_SUCCESS,
            block_number=self._block,
            tx_hash=tx_hash,
            logs=[transfer_log],
        )
        return tx_hash

    def _token_call(self, function: str, args: Sequence[Any]) -> Any:
        if function == "name":
            return self.token_name
        if function == "version":
            return self.token_version
        if function == "decimals":
            return USDC_DECIMALS
        if function == "balanceOf":
            return self._balances.get(to_checksum_address(args[0]), self.initial)
        if function == "authorizationState":
            return (to_checksum_address(args[0]), bytes(args[1])) in self._used
        if function == evm.FUNCTION_TRANSFER_WITH_AUTHORIZATION:
            return self._transfer_with_authorization(args, commit=False)
        raise Reverted(f"{function} is not implemented by the local USDC")

    def _raw_call(self, target: str, calldata: bytes) -> tuple[bool, bytes]:
        """An eth_call by calldata, for Multicall3's tryAggregate; (success, return data)."""
        if to_checksum_address(target) != self.token:
            return True, b""  # a call to an account without code succeeds and returns nothing
        for abi in _TOKEN_ABIS:
            fn = abi[0]
            inputs = [item["type"] for item in fn["inputs"]]
            if keccak(text=f"{fn['name']}({','.join(inputs)})")[:4] != calldata[:4]:
                continue
            try:
                result = self._token_call(fn["name"], decode(inputs, calldata[4:]))
            except Reverted as exc:
                return False, _ERROR_SELECTOR + encode(["string"], [exc.reason])
            outputs = [item["type"] for item in fn["outputs"]]
            return True, encode(outputs, [result]) if outputs else b""
        return False, b""

    # --- FacilitatorEvmSigner -----------------------------------------------------------

    def get_addresses(self) -> list[str]:
        return [FACILITATOR_ADDRESS]

    def get_chain_id(self) -> int:
        return self.chain_id

    def get_code(self, address: str) -> bytes:
        deployed = {self.token, to_checksum_address(evm.MULTICALL3_ADDRESS)}
        return b"\x60\x80\x60\x40" if to_checksum_address(address) in deployed else b""

    def get_balance(self, address: str, token_address: str) -> int:
        if to_checksum_address(token_address) != self.token:
            return 0
        return self.balance(address)

    def read_contract(self, address: str, abi: Any, function_name: str, *args: Any) -> Any:
        target = to_checksum_address(address)
        with self._lock:
            if target == to_checksum_address(evm.MULTICALL3_ADDRESS):
                if function_name != "tryAggregate":
                    raise Reverted(f"Multicall3.{function_name} is not implemented locally")
                return [self._raw_call(call_target, bytes(data)) for call_target, data in args[1]]
            if target != self.token:
                raise Reverted(f"no contract at {target}")
            return self._token_call(function_name, args)

    def verify_typed_data(
        self,
        address: str,
        domain: Any,
        types: Any,
        primary_type: str,
        message: dict[str, Any],
        signature: bytes,
    ) -> bool:
        return verify_typed_data_strict(
            self, address, domain, types, primary_type, message, signature
        )

    def write_contract(
        self, address: str, abi: Any, function_name: str, *args: Any, data_suffix: str | None = None
    ) -> str:
        if to_checksum_address(address) != self.token:
            raise Reverted(f"no contract at {address}")
        if function_name != evm.FUNCTION_TRANSFER_WITH_AUTHORIZATION:
            raise Reverted(f"{function_name} is not implemented by the local USDC")
        with self._lock:  # simulate, then apply: a reverting call is never "broadcast"
            tx_hash = self._transfer_with_authorization(args, commit=True)
        assert tx_hash is not None
        return tx_hash

    def send_transaction(self, to: str, data: bytes) -> str:
        raise Reverted("the local chain has no smart-wallet factories")

    def wait_for_transaction_receipt(self, tx_hash: str) -> TransactionReceipt:
        with self._lock:
            receipt = self._receipts.get(tx_hash)
        if receipt is None:
            raise TimeoutError(f"transaction {tx_hash} was never mined")
        return receipt


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def create_app(
    *,
    network: str = DEFAULT_NETWORK,
    asset: str = DEFAULT_ASSET,
    initial_balance_usdc: int = DEFAULT_INITIAL_BALANCE_USDC,
    token_name: str | None = None,
    token_version: str | None = None,
) -> flask.Flask:
    """The facilitator app; the token's EIP-712 name/version default to the SDK's asset table."""
    known = find_default_asset(asset, network) or {}
    chain = LocalChain(
        network=network,
        asset=asset,
        token_name=token_name or known.get("name", "USDC"),
        token_version=token_version or known.get("version", "2"),
        initial=initial_balance_usdc * 10**USDC_DECIMALS,
    )
    facilitator = x402FacilitatorSync()
    facilitator.register([network], ExactEvmFacilitatorScheme(chain))
    app = flask.Flask(__name__)
    app.extensions[EXTENSION_KEY] = chain

    def parsed_body() -> tuple[Any, Any] | flask.Response:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        try:
            payload = parse_payment_payload(body["paymentPayload"])
            version = int(body.get("x402Version", payload.x402_version))
            return payload, parse_payment_requirements(version, body["paymentRequirements"])
        except (KeyError, ValueError, TypeError) as exc:
            return _error(400, f"invalid request: {exc}")

    @app.post("/verify")
    def verify() -> Any:
        parsed = parsed_body()
        if isinstance(parsed, flask.Response):
            return parsed
        try:
            result = facilitator.verify(*parsed)
        except SchemeNotFoundError:
            result = VerifyResponse(is_valid=False, invalid_reason=evm.ERR_UNSUPPORTED_SCHEME)
        except (PaymentError, ValueError, TypeError) as exc:
            return _error(400, f"invalid payment: {exc}")
        return flask.jsonify(result.model_dump(mode="json", by_alias=True, exclude_none=True))

    @app.post("/settle")
    def settle() -> Any:
        parsed = parsed_body()
        if isinstance(parsed, flask.Response):
            return parsed
        try:
            result = facilitator.settle(*parsed)
        except SchemeNotFoundError:
            result = SettleResponse(
                success=False,
                error_reason=evm.ERR_UNSUPPORTED_SCHEME,
                transaction="",
                network=parsed[0].get_network(),
            )
        except (PaymentError, ValueError, TypeError) as exc:
            return _error(400, f"invalid payment: {exc}")
        return flask.jsonify(result.model_dump(mode="json", by_alias=True, exclude_none=True))

    @app.get("/supported")
    def supported() -> Any:
        answer = facilitator.get_supported()
        return flask.jsonify(answer.model_dump(mode="json", by_alias=True, exclude_none=True))

    @app.route("/_local/balances/<address>", methods=["GET", "POST"])
    def balances(address: str) -> Any:
        if not _ADDRESS.fullmatch(address):
            return _error(400, "not an address")
        if flask.request.method == "POST":
            body = flask.request.get_json(silent=True) or {}
            atomic = body.get("balanceAtomic")
            if isinstance(atomic, bool) or not isinstance(atomic, int) or atomic < 0:
                return _error(400, "balanceAtomic must be a non-negative integer")
            chain.set_balance(address, atomic)
        return flask.jsonify(
            {
                "address": to_checksum_address(address),
                "asset": chain.token,
                "network": chain.network,
                "balanceAtomic": chain.balance(address),
            }
        )

    return app


def _error(status: int, message: str) -> flask.Response:
    response = flask.jsonify({"error": message})
    response.status_code = status
    return response


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.x402_facilitator",
        description="Local x402 facilitator (verify/settle/supported) over an in-memory USDC.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12113, help="0 picks a free port")
    parser.add_argument("--network", default=DEFAULT_NETWORK, help="CAIP-2, e.g. eip155:84532")
    parser.add_argument("--asset", default=DEFAULT_ASSET, help="the USDC contract address")
    parser.add_argument(
        "--initial-balance-usdc",
        type=int,
        default=DEFAULT_INITIAL_BALANCE_USDC,
        help="what every address holds before its first transfer",
    )
    parser.add_argument("--token-name", help="EIP-712 name (default: the SDK's asset table)")
    parser.add_argument("--token-version", help="EIP-712 version (default: the asset table)")
    args = parser.parse_args(argv)
    configure_logging(access_log=False)
    app = create_app(
        network=args.network,
        asset=args.asset,
        initial_balance_usdc=args.initial_balance_usdc,
        token_name=args.token_name,
        token_version=args.token_version,
    )
    chain: LocalChain = app.extensions[EXTENSION_KEY]
    return serve_until_signalled(
        app,
        host=args.host,
        port=args.port,
        name="x402-local",
        banner=f" network={chain.network} asset={chain.token} "
        f"({chain.token_name} v{chain.token_version})",
    )


if __name__ == "__main__":
    sys.exit(main())
