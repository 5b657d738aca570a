"""http_json: a REST/JSON upstream, its resources and fields described in the configuration.

One instance reads one upstream (``base_url``) with its own credentials, through one pooled
HTTP client shared by every thread. Every read is bounded: ``timeout`` per request (connecting,
sending, waiting and reading, together), ``deadline`` for the whole read with its token
requests, retries and waits, so nothing hangs beyond ``deadline`` whatever the upstream does, a
slow drip included.

Options (keyword arguments; TOML tables arrive as dicts)::

    base_url = "https://asp.example.bg/api/"   # http:// only to a loopback host, unless
    allow_insecure_http = false                # this is true (cleartext personal data)
    label_bg = "..."  label_en = "..."
    timeout = 2.0             # seconds per request
    deadline = 5.0            # seconds per read, retries and waits included (>= timeout)
    retries = 2               # extra attempts after a connection error, a timeout or 502/503/504
    backoff = 0.2             # the first wait; doubles each attempt, plus up to as much jitter
    retry_after_cap = 2.0     # the longest Retry-After worth waiting for within a read
    breaker_failures = 5      # consecutive failed attempts that open the circuit
    breaker_reset = 30        # seconds until an open circuit lets one trial call through
    health_path = "/"         # health() GETs it, credentials included, and wants an answer
                              # below 500 that is not 401 or 403
    max_response_bytes = 1048576
    max_connections = 20

    [auth]                    # required
    type = "none" | "api_key" | "oauth_client_credentials"
    header = "X-API-Key"      # api_key
    key = "..."               # api_key
    token_url = "https://..." # oauth_client_credentials (RFC 6749 section 4.4)
    client_id = "..."  client_secret = "..."  scope = "..." (optional)

    [resources.<name>]
    label_bg = "..."  label_en = "..."
    path = "/people/{subject}/benefits"   # GET: {subject} is the URL-quoted national id
    method = "GET"                        # or "POST": the body {"national_id": ...}, no id in
                                          # the path
    subject_pointer = "/national_id"      # optional: the answer must echo the subject here
    not_found_status = [404]
    date_from_param = "from"  date_to_param = "to"   # query parameters of a dated read

    [resources.<name>.fields.<name>]
    pointer = "/allowance/monthly"        # RFC 6901 JSON pointer into the answer
    label_bg = "..."  label_en = "..."  dpv = "https://w3id.org/dpv/pd#..."
    sensitivity = "personal"              # low | personal | special
    optional = true                       # may the citizen leave it out of a consent
    dated = false                         # a list of {start, end, ...} records
    nullable = false

How answers are read, and why:

- A value the pointer does not find, or a JSON null, is :class:`BadUpstreamData` unless the
  field is ``nullable``; then it is ``None`` (``[]`` for a dated field, so the broker's gate
  still sees a list). A changed upstream schema then fails loudly instead of handing a service
  a silent ``null`` that reads as "no allowance".
- With ``subject_pointer``, the answer must hold the subject's national id there, as a string,
  or the read fails: an upstream bug can never hand one citizen's data to another's read.
- Dated records are filtered to the consent's window (an upstream may ignore the date
  parameters); a record without a valid ``start`` and ``end`` fails the read.
- The answer must be a JSON object of at most ``max_response_bytes``, sent uncompressed (the
  client asks for ``identity``, so a small compressed body can never expand past the cap).
- Redirects are not followed: the configured ``base_url`` is the only host ever contacted.

Failures: a status in ``not_found_status`` is :class:`SubjectNotFound`; connection errors,
timeouts and 502/503/504 are retried with exponential backoff and jitter (a 503's Retry-After is
honoured up to ``retry_after_cap``; a longer one ends the read at once and is passed on); other
4xx are never retried. What remains is :class:`SourceTimeout` or :class:`SourceUnavailable`
(``retry_after`` from the upstream, else ``breaker_reset``). A 401 makes an OAuth client fetch a
new token once; a refusal after that is :class:`SourceUnavailable` naming the credentials.

The circuit breaker counts failed attempts (connection errors, timeouts, 5xx). pybreaker keeps
its state, but its ``call()`` holds a lock for the whole guarded call (danielfm/pybreaker#3),
which would let one read at a time reach the upstream; so each attempt is admitted and its
outcome recorded in two short steps, and the upstream is called in between without a lock.
While the circuit is open, reads fail at once with ``retry_after`` = the seconds until it
half-opens; when it half-opens, one trial attempt goes through at a time.

Nothing here logs a national id or a value; httpx's own request log lines have their path and
query hidden (a GET names the national id in its path), and no secret is in a message or repr.

The package, one idea a module: :mod:`~connectors.http_json.options` (checking the options),
:mod:`~connectors.http_json.auth` (credentials and tokens), :mod:`~connectors.http_json.transport`
(the bounded HTTP client), :mod:`~connectors.http_json.breaker` (the circuit breaker) and
:mod:`~connectors.http_json.connector` (reads, retries and health).
"""

from connectors.http_json.connector import HttpJsonConnector

__all__ = ["HttpJsonConnector"]
