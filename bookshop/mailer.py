"""The client of the shop's mail relay.

``Mailer`` stands in for the client of an SMTP relay: ``await mailer.send(to, subject, body)``.
A ``Mailer(down=True)`` behaves like a relay that refuses connections: ``send`` raises
``MailerError``. Give a mailer an ``events`` list and it notes there, in order, each email it
sent or failed to send, so that a timeline can show *when* the email went out.
"""

from dataclasses import dataclass, field

from anyio.lowlevel import checkpoint


class MailerError(ConnectionError):
    """The mail relay could not be reached or refused the message."""


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    body: str


@dataclass
class Mailer:
    """A client for the shop's mail relay. ``sent`` lists what it delivered."""

    down: bool = False
    events: list | None = None
    sent: list[Email] = field(default_factory=list)

    async def send(self, to: str, subject: str, body: str) -> None:
        await checkpoint()  # talking to the relay is I/O: other tasks may run meanwhile
        if self.down:
            self._note("email-failed", to)
            # A relay that refuses the connection never saw the message: the error names no email.
            raise MailerError("the mail relay refused the connection")
        self.sent.append(Email(to, subject, body))
        self._note("email-sent", to)

    def _note(self, kind: str, to: str) -> None:
        if self.events is not None:
            self.events.append((kind, to))
