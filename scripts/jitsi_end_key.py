"""Make the key pair for self-hosted Jitsi's end-meeting endpoint (README "Ending the meeting").

    scripts/jitsi-end-key --kid telehealth/end-meeting-1 --out keys/

writes two files into the output folder and prints what to do with them:
- ``end-key.pem`` (mode 0600): the RSA private key, for ``VIDEO_JITSI_END_KEY``;
- ``<sha256 hex of the kid>.pem``: the public key, to publish on the ASAP key server that Prosody's
  ``prosody_password_public_key_repo_url`` names (Prosody fetches ``<url>/<that name>``).
Nothing is sent anywhere; an existing private key file is never overwritten (exit 1).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KID = re.compile(r"[A-Za-z0-9._:/-]{1,255}")  # what VIDEO_JITSI_END_KEY_ID accepts


def public_file_name(kid: str) -> str:
    return hashlib.sha256(kid.encode("utf-8")).hexdigest() + ".pem"


def make(kid: str, out: Path, bits: int = 2048) -> tuple[Path, Path]:
    """Write the pair; returns (private key file, public key file)."""
    out.mkdir(parents=True, exist_ok=True)
    private_file, public_file = out / "end-key.pem", out / public_file_name(kid)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    descriptor = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private)
    public_file.write_bytes(public)
    return private_file, public_file


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Key pair for Jitsi's end-meeting system token")
    parser.add_argument("--kid", required=True, help="the key id; becomes VIDEO_JITSI_END_KEY_ID")
    parser.add_argument("--out", required=True, type=Path, help="folder for the two files")
    args = parser.parse_args(argv)
    if not KID.fullmatch(args.kid):
        print("jitsi-end-key: --kid must be 1-255 of A-Z a-z 0-9 . _ : / -", file=sys.stderr)
        return 2
    if (args.out / "end-key.pem").exists():
        print(f"jitsi-end-key: {args.out / 'end-key.pem'} exists; not overwritten", file=sys.stderr)
        return 1
    private_file, public_file = make(args.kid, args.out)
    print(f"private key: {private_file}")
    print(f"  npx firebase functions:secrets:set VIDEO_JITSI_END_KEY --data-file {private_file}")
    print(f"  VIDEO_JITSI_END_KEY_ID={args.kid}   (in functions/.env.<projectId>)")
    print(f"public key:  {public_file}")
    print("  publish it at <prosody_password_public_key_repo_url>/" + public_file.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
