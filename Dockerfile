# paygate in a container: the installed package (not editable), run as an unprivileged user.
# Roles are chosen by the command: paygate serve | worker | migrate (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY paygate ./paygate
COPY sql ./sql
COPY static ./static
# 'fast' adds uvloop; the wheel carries sql/ and static/, so the source can go once installed.
RUN pip install ".[fast]" && rm -rf /src

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin paygate
USER paygate
WORKDIR /home/paygate

ENV PAYGATE_SERVER__HOST=0.0.0.0 \
    PAYGATE_LOGGING__FORMAT=json
EXPOSE 8000
CMD ["paygate", "serve"]
