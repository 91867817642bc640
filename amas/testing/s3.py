"""An S3 endpoint for tests: moto's server (`moto[server]`) in its own process on a free port.

A separate process speaks real S3 over HTTP to boto3/django-storages (signing, multipart uploads,
presigned URLs) and keeps its memory out of the test process, so upload tests can measure ours.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from amas.stack import free_port

ACCESS_KEY = "amas-test"
SECRET_KEY = "amas-test-secret"  # moto accepts any credentials
REGION = "us-east-1"


@dataclass
class MotoS3Server:
    host: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.port = self.port or free_port(self.host)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1.0)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not start in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def create_bucket(self, name: str | None = None) -> str:
        name = name or f"amas-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_options(self, bucket: str) -> dict[str, Any]:
        """OPTIONS for storages.backends.s3.S3Storage pointing at this server, with the same
        path-style addressing, s3v4 signatures and upload buffering as amas/settings/base.py
        configures when AWS_STORAGE_BUCKET_NAME is set."""
        from boto3.s3.transfer import TransferConfig
        from django.conf import settings

        transfer = TransferConfig(
            multipart_threshold=settings.AWS_S3_UPLOAD_PART_BYTES,
            multipart_chunksize=settings.AWS_S3_UPLOAD_PART_BYTES,
            max_concurrency=settings.AWS_S3_UPLOAD_BUFFERS,
        )
        transfer.max_in_memory_upload_chunks = settings.AWS_S3_UPLOAD_BUFFERS
        return {
            "transfer_config": transfer,
            "bucket_name": bucket,
            "endpoint_url": self.endpoint_url,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region_name": REGION,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "querystring_auth": True,
            "querystring_expire": 300,
            "default_acl": None,
            "file_overwrite": False,
        }
