"""Log keys over time: which keys sign, and which verify, the checkpoint at each size.

A key is valid for the sizes ``[from_size, until_size)``. During a planned rotation
(``key.rotate`` at seq q, audit-log.md §7) the old key is valid until ``from_size`` and
the new key from ``q + 1``, so checkpoints in between carry both signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from audit_log.note import Verifier

if TYPE_CHECKING:
    from audit_log.note import Signer


@dataclass(frozen=True, slots=True)
class KeyPeriod:
    """A verifier key and the checkpoint sizes it is valid for (``until`` None: open)."""

    verifier: Verifier
    from_size: int = 0
    until_size: int | None = None

    def covers(self, size: int) -> bool:
        """Return True if the key is valid for a checkpoint at ``size``."""
        return self.from_size <= size and (self.until_size is None or size < self.until_size)


@dataclass
class KeyRing:
    """The key periods of a log, and the signers this process holds for them."""

    periods: list[KeyPeriod]
    signers: dict[str, Signer] = field(default_factory=dict)

    @classmethod
    def single(cls, signer: Signer) -> KeyRing:
        """A log with one key, valid from size 0."""
        return cls([KeyPeriod(signer.verifier)], {str(signer.verifier): signer})

    @classmethod
    def from_log(
        cls,
        genesis: Verifier,
        rotations: list[tuple[int, dict[str, object]]],
        signers: list[Signer],
    ) -> KeyRing:
        """Rebuild the periods from the genesis key and the ``key.rotate`` entries.

        ``rotations`` are ``(seq, data)`` pairs in seq order; ``signers`` are the keys
        this process holds.
        """
        ring = cls([KeyPeriod(genesis)], {str(s.verifier): s for s in signers})
        for seq, data in rotations:
            ring.apply_rotation(
                seq,
                str(data["old_vkey"]),
                Verifier.parse(str(data["new_vkey"])),
                int(str(data["from_size"])),
            )
        return ring

    def apply_rotation(self, seq: int, old_vkey: str, new: Verifier, from_size: int) -> None:
        """Apply a ``key.rotate`` at ``seq``: old key until ``from_size``, new from seq + 1."""
        self.periods = [
            KeyPeriod(p.verifier, p.from_size, from_size) if str(p.verifier) == old_vkey else p
            for p in self.periods
        ]
        self.periods.append(KeyPeriod(new, seq + 1))

    def verifiers_for(self, size: int) -> list[Verifier]:
        """Return the keys valid for a checkpoint at ``size``."""
        return [p.verifier for p in self.periods if p.covers(size)]

    def signers_for(self, size: int) -> list[Signer]:
        """Return the signers for a checkpoint at ``size``: every valid key we hold.

        Raises:
            LookupError: this process holds none of the keys valid at ``size``.
        """
        found = [self.signers[str(v)] for v in self.verifiers_for(size) if str(v) in self.signers]
        if len(found) != len(self.verifiers_for(size)):
            msg = f"the signing key for size {size} is not loaded"
            raise LookupError(msg)
        return found
