"""Outbound SMS: the sender contract and its console, file and Kavenegar backends."""

from core.sms.base import SmsFailed, SmsSender
from core.sms.factory import build_sms_sender

__all__ = ["SmsFailed", "SmsSender", "build_sms_sender"]
