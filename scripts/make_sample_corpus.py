# ruff: noqa: E501  -- this file is mostly document text; table rows are long lines.
"""Generate the PDF and DOCX documents of the bundled sample corpus.

The Acme Robotics sample corpus (tenant `acme`) lives in `sample-corpus/`. Markdown,
HTML and plain-text documents there are written by hand; this script generates only
the PDF and DOCX documents, whose text lives below as Python data, plus the ACL
sidecar (`<file>.acl.yaml`) of each restricted generated document. It never writes
`.md`, `.html` or `.txt` files.

Output is deterministic: fixed creation dates in the PDF and DOCX metadata and fixed
timestamps inside the DOCX zip container, so re-running produces identical bytes.

Usage:
    .venv/bin/python scripts/make_sample_corpus.py            # (re)write the files
    .venv/bin/python scripts/make_sample_corpus.py --check    # exit 1 if any file is stale

Document text uses a small line-based markup:
    # Heading 1          ## Heading 2          - bullet item
    | cell | cell |      table row (the first row of a table is its header)
    ===                  page break (PDF only)
    blank line           ends a paragraph; other consecutive lines form one paragraph
A line starting with two spaces continues the previous bullet or paragraph.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import docx
import yaml
from docx.shared import Pt
from fpdf import FPDF
from fpdf.enums import XPos, YPos

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "sample-corpus"
ZIP_TIMESTAMP = (2026, 1, 30, 12, 0, 0)
GENERATED_SUFFIXES = (".pdf", ".docx")


@dataclass(frozen=True)
class Doc:
    path: str  # relative to sample-corpus/
    title: str
    subtitle: str
    author: str
    subject: str
    keywords: tuple[str, ...]
    date: datetime
    classification: str
    body: str
    acl: dict[str, list[str]] | None = None


def _d(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 9, 0, 0, tzinfo=UTC)


# --------------------------------------------------------------------------------------
# PDF documents (text must stay latin-1: no curly quotes, en dashes or euro signs)
# --------------------------------------------------------------------------------------

SALARY_BANDS = Doc(
    path="hr/salary-bands-2026.pdf",
    title="Salary Bands 2026",
    subtitle="Strictly Confidential - HR team only. Effective 1 April 2026. Owner: Carol Jensen, "
    "Chief People Officer. Version 1.0, 26 January 2026.",
    author="Carol Jensen",
    subject="Base salary bands by level (L1-L8) and location for 2026",
    keywords=("salary", "bands", "compensation", "levels", "hr", "confidential"),
    date=_d(2026, 1, 26),
    classification="Strictly Confidential - HR only",
    acl={"allow_groups": ["hr"]},
    body="""
# 1. Purpose and scope

This document sets out the 2026 base salary bands for all levels from L1 to L8. The bands apply to
new offers, promotions and merit increases from 1 April 2026. All amounts are annual gross base
salaries in EUR for a full-time position (40 hours per week) and exclude bonus, on-call allowances
and benefits. Sales roles on commission plans use separate bands that are not covered here.

# 2. How the bands were set

- Midpoints are set at the 50th percentile of the Munich market in the PayScope European Tech
  Compensation Survey 2025.
- Every band runs from 85% (minimum) to 115% (maximum) of its midpoint.
- Compared with 2025, midpoints rose by 3.5% on average; L1 and L2 rose by 5% because of the
  market for graduate robotics engineers.
- Bands are reviewed every January by the People Team and approved by the CFO, Priya Raman.

# 3. Engineering and Product track (Munich, location factor 100%)

| Level | Minimum (EUR) | Midpoint (EUR) | Maximum (EUR) |
| L1 | 45,900 | 54,000 | 62,100 |
| L2 | 54,400 | 64,000 | 73,600 |
| L3 | 66,300 | 78,000 | 89,700 |
| L4 | 79,900 | 94,000 | 108,100 |
| L5 | 95,200 | 112,000 | 128,800 |
| L6 | 113,900 | 134,000 | 154,100 |
| L7 | 136,000 | 160,000 | 184,000 |
| L8 | 161,500 | 190,000 | 218,500 |

# 4. Business functions track (Munich, location factor 100%)

Business functions are Finance, People, Legal, Operations, Customer Support, Customer Success and
Marketing.

| Level | Minimum (EUR) | Midpoint (EUR) | Maximum (EUR) |
| L1 | 39,100 | 46,000 | 52,900 |
| L2 | 46,750 | 55,000 | 63,250 |
| L3 | 56,950 | 67,000 | 77,050 |
| L4 | 68,850 | 81,000 | 93,150 |
| L5 | 82,450 | 97,000 | 111,550 |
| L6 | 98,600 | 116,000 | 133,400 |
| L7 | 119,000 | 140,000 | 161,000 |
| L8 | 144,500 | 170,000 | 195,500 |

===
# 5. Location factors

The Munich bands above are multiplied by the location factor of the employee's contract.

| Location | Factor | Example: L4 Engineering midpoint |
| Munich (Germany) | 100% | EUR 94,000 |
| Rotterdam (Netherlands) | 97% | EUR 91,180 |
| Lisbon (Portugal) | 70% | EUR 65,800 |

Fully remote employees receive the factor of the country they live in (Germany 100%, Netherlands
97%, Portugal 70%).

# 6. Rules for using the bands

## New offers

- Offers up to the midpoint can be made by the hiring manager with the recruiter.
- Offers above the midpoint need approval from the Director and the HR Business Partner.
- Offers above the band maximum are not allowed. Exceptions can only be granted by the Chief
  People Officer.

## Promotions

- A promotion increase is typically 8 to 12% and must bring the salary at least to the minimum of
  the new level's band.

## Compa-ratio

- Compa-ratio is the base salary divided by the band midpoint. The target range is 0.90 to 1.10.
- Employees above the band maximum are "red-circled": they receive merit increases as a one-time
  lump sum instead of a base salary increase until the band catches up.

# 7. Bonus targets by level

| Level | Annual bonus target (% of base salary) |
| L1 to L3 | No bonus target (eligible for spot awards up to EUR 2,000) |
| L4 | 5% |
| L5 | 8% |
| L6 | 12% |
| L7 | 15% |
| L8 | 20% |

Bonus payouts depend on the company scorecard and the individual rating (see the 2026 Performance
Review Calibration Guide for the rating multipliers). Executive compensation above L8 is decided by
the Compensation Committee of the Board and is not covered by this document.

# 8. Confidentiality

This table is Strictly Confidential. Managers see only the bands of their direct reports in
PeoplePoint. Employees may ask their HR Business Partner for the band of their own level. Do not
export, print or forward this document.
""",
)

PEN_TEST = Doc(
    path="security/penetration-test-report-2025.pdf",
    title="Penetration Test Report - Beacon Platform 2025",
    subtitle="Prepared by Northgate Security Labs for Acme Robotics GmbH. Report NSL-2025-ACME-031, "
    "version 1.2 (final, including retests), 1 December 2025. Strictly Confidential.",
    author="Northgate Security Labs",
    subject="External penetration test of the Beacon platform, September 2025",
    keywords=("penetration test", "security", "beacon", "findings", "confidential"),
    date=_d(2025, 12, 1),
    classification="Strictly Confidential - security team only",
    acl={"allow_groups": ["security"]},
    body="""
# 1. Executive summary

Northgate Security Labs performed a grey-box penetration test of the Beacon fleet-management
platform between 8 and 19 September 2025 (10 testing days, 2 testers). The overall risk rating is
MODERATE.

We identified 11 findings: 0 critical, 2 high, 4 medium, 3 low and 2 informational. Both high
findings were fixed by Acme and passed our retest. The most serious issue allowed a user of one
Beacon organisation to list the robots of another organisation (NGS-2025-01).

| ID | Title | Severity | Status on 1 December 2025 |
| NGS-2025-01 | Broken object level authorisation on the fleet robots endpoint | High | Fixed in 3.2.1, retest passed |
| NGS-2025-02 | Weak webhook signature scheme and non-constant-time comparison | High | Fixed (gateway) / mitigated (v2 signatures) |
| NGS-2025-03 | API tokens remain valid after the user is removed | Medium | Fixed in 3.3.0 |
| NGS-2025-04 | No rate limiting on the OAuth token endpoint | Medium | Fixed in 3.2.1 |
| NGS-2025-05 | Error messages disclose internal hostnames | Medium | Fixed in 3.3.0 |
| NGS-2025-06 | Excessive console session lifetime | Medium | Open, planned for 3.4 |
| NGS-2025-07 | Missing security headers on the status page | Low | Fixed |
| NGS-2025-08 | TLS 1.0 enabled on the legacy firmware mirror | Low | Risk accepted until 31 March 2026 |
| NGS-2025-09 | Clickjacking possible on the documentation site | Low | Fixed |
| NGS-2025-10 | Outdated JavaScript library on the marketing site | Info | Fixed |
| NGS-2025-11 | Console password policy weaker than internal SSO policy | Info | Open |

# 2. Scope and methodology

## In scope

- Beacon REST API v1 and v2 (production-like staging environment stg.beacon.acme.example)
- Beacon console (web application)
- Webhook delivery and signing
- Fleet gateway used by robots to connect to Beacon (fleet.beacon.acme.example)
- OAuth token endpoint and API token management
- Public status page and documentation site

## Out of scope

- Physical robot hardware and robot firmware internals
- The Rotterdam plant OT network
- Social engineering and phishing of Acme employees

## Approach

Testing followed OWASP ASVS 4.0 Level 2 and the OWASP API Security Top 10 (2023). Acme provided two
test organisations (test-org-a and test-org-b), each with Admin, Fleet Engineer and Operator
accounts, and 4 simulated robots. Source code was not provided.

# 3. Detailed findings

## NGS-2025-01 Broken object level authorisation on fleet robots endpoint (High, CVSS 8.1)

The endpoint GET /v2/fleets/{fleet_id}/robots returned the robots of fleets belonging to other
organisations when the caller supplied another organisation's fleet_id. Fleet IDs were sequential
integers that were exposed by legacy v1 endpoints, which made enumeration practical. From test-org-a
we could read robot names, serial numbers, site names and last known positions of robots in
test-org-b. Write access was not possible.

Recommendation: enforce the organisation check in the data access layer for every object lookup and
use non-guessable identifiers. Status: fixed in Beacon 3.2.1 on 26 September 2025; retest passed on
2 October 2025. Acme reviewed 90 days of API audit logs and found no evidence of exploitation.

## NGS-2025-02 Weak webhook signature scheme and non-constant-time comparison (High, CVSS 7.4)

Webhook signatures (v1, header X-Beacon-Signature) used HMAC-SHA1 without a timestamp, so captured
deliveries could be replayed indefinitely. In addition, the fleet gateway compared robot callback
signatures with a non-constant-time string comparison; in our lab setup a timing attack recovered
the first 6 bytes of a valid signature.

Recommendation: HMAC-SHA256 over a timestamp and the body, a replay window of at most 5 minutes and
constant-time comparison. Status: the gateway comparison was fixed in Beacon 3.2.1 (retest passed
2 October 2025). The new v2 signature scheme shipped in Beacon 3.3.0 on 18 November 2025 and was
reviewed by us on 20 November 2025. v1 signatures remain active for endpoints created before 3.3
until 30 June 2026; Acme has accepted this residual risk.

## NGS-2025-03 API tokens remain valid after the user is removed (Medium, CVSS 6.5)

Tokens created by a user stayed valid after the user was removed from the organisation. A former
employee of a customer could keep using the API. Status: fixed in Beacon 3.3.0 (tokens are revoked
when the user is removed).

## NGS-2025-04 No rate limiting on the OAuth token endpoint (Medium, CVSS 5.9)

POST /oauth/token accepted unlimited requests, enabling online guessing of client secrets. Status:
fixed in Beacon 3.2.1 with a limit of 10 requests per minute per client and a 15-minute lockout
after 20 failures.

## NGS-2025-05 Error messages disclose internal hostnames (Medium, CVSS 5.3)

HTTP 502 responses from the API contained internal hostnames such as fleetgw-int-03.eu-central.internal.
Status: fixed in Beacon 3.3.0.

## NGS-2025-06 Excessive console session lifetime (Medium, CVSS 5.4)

Console sessions were valid for 7 days without an idle timeout. We recommend an idle timeout of at
most 12 hours. Status: open; Acme plans the change for Beacon 3.4 in January 2026.

## Low and informational findings

- NGS-2025-07 (Low): the status page did not send HSTS and Content-Security-Policy headers. Fixed.
- NGS-2025-08 (Low): the legacy firmware mirror fw-legacy.acme.example accepts TLS 1.0. Firmware
  images are signed, which limits the impact. Acme accepted the risk until 31 March 2026, when the
  last robots on firmware 5.x are to be upgraded.
- NGS-2025-09 (Low): the documentation site could be framed by other sites (clickjacking). Fixed.
- NGS-2025-10 (Info): the marketing site used jQuery 3.4.1. Updated.
- NGS-2025-11 (Info): Beacon console accounts accept 12-character passwords, while Acme's internal
  SSO requires 14. We recommend aligning the policies.

# 4. Remediation timelines

Acme's vulnerability management standard requires remediation of critical findings within 7 days,
high within 30 days, medium within 90 days and low within 180 days of the report. Both high findings
were remediated within 14 days.

# 5. Retest summary

| Finding | Retest date | Result |
| NGS-2025-01 | 2 October 2025 | Passed |
| NGS-2025-02 (gateway comparison) | 2 October 2025 | Passed |
| NGS-2025-02 (v2 signature scheme) | 20 November 2025 | Passed |
| NGS-2025-04 | 2 October 2025 | Passed |
| NGS-2025-03, NGS-2025-05 | 20 November 2025 | Passed |

# 6. Team and contacts

Lead tester: Owen Maddox (OSCE). Tester: Aisha Bello (OSCP). Acme contact: Marek Horvat, Security
Engineering Lead. The next annual test is planned for September 2026 and will include the robot
firmware update channel.
""",
)

FIRMWARE_GUIDE = Doc(
    path="product/beacon-firmware-update-guide.pdf",
    title="Porter Robot Firmware Update Guide",
    subtitle="For Porter P200 and Porter P600 robots, firmware 7.x. Document FW-UG-07, revision D, "
    "27 January 2026. Public - for Beacon customers and Acme field engineers.",
    author="Acme Robotics - Robotics Firmware team",
    subject="How to update Porter robot firmware through Beacon",
    keywords=("firmware", "update", "porter", "beacon", "rollout", "rollback"),
    date=_d(2026, 1, 27),
    classification="Public",
    body="""
# 1. Overview

Porter robots receive firmware updates over the air through Beacon. Each robot has two firmware
partitions (A and B): the update is written to the inactive partition while the robot keeps
working, and the robot switches partitions only after the new image has been verified. If anything
goes wrong, the robot starts from the previous image.

The current firmware is 7.4.2, released together with Beacon 3.4 on 27 January 2026. Acme supports
the two most recent minor versions.

| Firmware | Released | Minimum Beacon version | Supported until |
| 7.4.2 | 27 January 2026 | 3.4 | Current version |
| 7.3.1 | 2 December 2025 | 3.3 | 31 July 2026 |
| 7.2.0 | 9 September 2025 | 3.2 | 30 April 2026 |

# 2. Before you start

- You need the Admin or Fleet Engineer role in Beacon.
- Each robot must be docked at its charging station with a battery level of at least 40%.
  Otherwise the update waits and the robot reports E702.
- Robots with an active mission are skipped and updated at their next idle period.
- Wi-Fi signal at the docks should be at least -67 dBm.
- Plan a maintenance window: each robot is unavailable for about 15 minutes. The rollout setting
  "maximum unavailable" (default 10% of the fleet) limits how many robots update at the same time.
- Read the release notes of the target version.

# 3. Staged rollout in the Beacon console

- Step 1: In the console, open Fleet > Firmware, select the fleet and the target version.
- Step 2: Choose the rollout policy. The default staged policy updates a canary group of 5% of the
  robots (at least 1 robot) first, then 25%, then 100%.
- Step 3: Start the rollout. Robots in the canary group download the image (about 850 MB) in the
  background and install it when they are idle and docked.
- Step 4: Observe the canary group for 24 hours: mission success rate, error codes and battery
  consumption. With "auto-promote" enabled, Beacon promotes the rollout after 24 hours only if no
  canary robot reported a 6xx (safety) or 7xx (firmware) error.
- Step 5: Promote the rollout to 25% and then to 100% of the fleet.

## What the robot does during the update

Installation takes about 12 minutes and the robot reboots twice. The status light shows the
progress: pulsing blue while downloading, solid amber while installing, and three green flashes
when the update is complete.

Never power off the robot, undock it or press the emergency stop while the light is amber. If the
installation is interrupted, the robot starts from its previous firmware and reports E701 or E703.

# 4. Rollouts through the API and CLI

Rollouts can be automated with the API scope fleet:write. Send POST /v2/firmware/rollouts with the
fleet_id, the version (for example 7.4.2) and canary_percent (default 5). The event
firmware.update_finished is sent as a webhook for every robot. With the Beacon CLI:
beacon firmware rollout create --fleet <fleet_id> --version 7.4.2 --canary 5

# 5. Rolling back

- "Revert firmware" on the robot page switches the robot back to its previous image. It is
  available for 14 days after an update, while the previous image is still on the inactive
  partition.
- A revert takes about 4 minutes and needs the same conditions as an update (docked, battery at
  least 40%).
- To roll back a whole fleet, pause the rollout and choose "Revert all updated robots".
- After 14 days a revert is no longer possible; install the older version as a normal rollout
  instead (downgrades below 7.2 are not supported).

# 6. Offline updates (Acme field engineers only)

Robots that cannot reach Beacon can be updated through the USB-C service port with a signed .pfw
bundle. Offline updates are performed only by Acme field engineers with a service laptop; customers
must not open the service panel.

# 7. Troubleshooting

| Code | Meaning | What to do |
| E701 | Firmware checksum mismatch | Beacon downloads the image again automatically (up to 3 times). If it persists, make sure no proxy modifies downloads, then contact support. |
| E702 | Update blocked: battery below 40% | Leave the robot docked. The update continues automatically once the battery is at 40%. |
| E703 | Update timeout (installation longer than 45 minutes) | The robot has reverted to its previous firmware. Retry once; if it fails again, contact support with the robot serial number. |
| E704 | Incompatible hardware revision | Porter P200 hardware revision A cannot run firmware 7.4. Keep these robots on 7.3.1 and contact your account manager about a hardware upgrade. |

# 8. Support

support@beacon.acme.example, phone +49 89 5550 8000 (24/7 for Enterprise customers, business hours
for other plans).
""",
)

RELEASE_NOTES = Doc(
    path="product/beacon-release-notes-3.2-3.4.pdf",
    title="Beacon Release Notes 3.2 - 3.4",
    subtitle="Beacon fleet management platform for Acme Porter robots. Published by Beacon Product "
    "Management, 27 January 2026.",
    author="Beacon Product Management",
    subject="Release notes for Beacon versions 3.2, 3.3 and 3.4",
    keywords=("beacon", "release notes", "3.2", "3.3", "3.4", "changelog"),
    date=_d(2026, 1, 27),
    classification="Public",
    body="""
# Beacon 3.4

## 3.4.0 (27 January 2026)

New features:

- Warehouse heatmaps (Analytics+ add-on, included in Enterprise): traffic density, dwell times and
  congestion points per site, updated every 15 minutes.
- New webhook event robot.maintenance_due, sent when a robot reaches its service interval (every
  2,000 operating hours or 12 months, whichever comes first).
- Cursor-based pagination for GET /v2/missions with page sizes up to 500.
- Firmware 7.4.2 is available: better obstacle classification (pallets versus people), up to 8%
  lower power consumption when idle, and faster relocalisation after error E203.

Changes:

- The API rate limit of the Professional plan is raised from 300 to 600 requests per minute.
- Console sessions now end after 12 hours of inactivity (previously sessions lasted 7 days).
- Beacon CLI 2.6.0 released with firmware rollout commands.

Deprecations:

- API v1 and webhook v1 signatures (X-Beacon-Signature header) will be switched off on 30 June 2026.
  Migrate to API v2 and verify the Beacon-Signature header (v2) before that date.

Known issues:

- CSV export of heatmaps times out for sites with more than 500,000 events per day. Workaround:
  export one zone at a time. A fix is planned for 3.4.1 in February 2026.

===
# Beacon 3.3

## 3.3.0 (18 November 2025)

- Webhook signatures v2: HMAC-SHA256 over a timestamp and the body, sent in the Beacon-Signature
  header. The v1 signature is deprecated.
- Webhook delivery log: see every delivery of the last 30 days and replay events manually.
- OAuth 2.0 client credentials are generally available on the Professional and Enterprise plans.
- API tokens are revoked automatically when the user who created them is removed from the
  organisation.
- Mission templates: save multi-stop missions and start them with one click or one API call.
- API error messages no longer contain internal host names.
- Firmware 7.3.0 is available.

## 3.3.1 (2 December 2025)

- Fixed: robots on firmware 7.3.0 could report a false E204 (path blocked) in aisles narrower than
  1.3 metres. Firmware 7.3.1 contains the fix.
- Fixed: the delivery log could not be filtered by event type.

# Beacon 3.2

## 3.2.0 (9 September 2025)

- Zone-based speed limits: set a maximum speed per map zone, for example 1.0 m/s next to picking
  stations.
- Traffic rules at intersections: right of way and one-way aisles.
- SAML single sign-on for the console (Enterprise plan).
- Battery health report: capacity trend per robot and a replacement recommendation when capacity
  falls below 80%.
- Firmware 7.2.0 is available.

## 3.2.1 (26 September 2025)

- Security fixes: stricter authorisation checks on fleet endpoints and rate limiting on the OAuth
  token endpoint (10 requests per minute per client). No customer action is required.

# Upgrade notes

- Beacon is upgraded by Acme. Maintenance windows are on Tuesdays from 06:00 to 07:00 CET and are
  announced on https://status.beacon.acme.example 7 days ahead. Minor versions are deployed without
  downtime.
- Firmware is never updated automatically: customers decide when to roll out a new firmware version
  (see the Porter Robot Firmware Update Guide).
""",
)

ERROR_CODES = Doc(
    path="product/robot-error-codes.pdf",
    title="Porter Robot Error Code Reference",
    subtitle="Error codes reported by Porter P200 and P600 robots (firmware 7.x) in Beacon and on "
    "the robot display. Document EC-REF-03, 27 January 2026.",
    author="Acme Robotics - Customer Support",
    subject="Meaning of Porter robot error codes E101 to E704 and what to do",
    keywords=("error codes", "porter", "robot", "troubleshooting", "beacon"),
    date=_d(2026, 1, 27),
    classification="Public",
    body="""
# How to read error codes

Porter robots report errors as a code such as E203. The first digit gives the group: 1 power,
2 navigation and sensing, 3 drive, 4 lift and payload, 5 connectivity, 6 safety and 7 firmware.
Errors are shown on the robot display, in the Beacon console and sent as the webhook event
robot.error. Errors in groups 6 and 7 stop the robot until the cause is cleared.

# 1xx Power

## E101 Battery low

The battery is below 15%. The robot finishes its current mission segment and drives to the nearest
free dock. If no dock can be reached, it stops at a safe spot and Beacon shows an alert. No action
is needed unless the error occurs often; then add docks or adjust mission planning.

## E102 Battery critical

The battery is below 5%. The robot stops immediately. Push it to a dock in free-wheel mode: hold the
brake release button on the rear panel for 3 seconds.

## E103 Battery over temperature

The battery is above 55 degrees Celsius. The robot pauses and resumes automatically when the
battery has cooled below 45 degrees. If E103 occurs 3 times within 24 hours, contact support for a
battery inspection.

## E104 Charging contact fault

The robot cannot charge at its dock. Clean the charging contacts on the robot and the dock with a
dry cloth and check that the dock is aligned with the floor marking.

# 2xx Navigation and sensing

## E201 Lidar obstructed

The lidar window is dirty or covered. Clean it with a microfibre cloth; never use solvents.

## E202 Bumper triggered

The bumper touched an obstacle. Remove the obstacle, check that the bumper moves freely and resume
the robot in Beacon.

## E203 Localisation lost

The robot no longer knows where it is: its localisation confidence stayed below 60% for more than
10 seconds. The robot stops. Move it to a known marker or its dock and choose "Relocalise" in the
Beacon console. Frequent E203 errors in one area usually mean the map is outdated (for example
racks were moved); update the map.

## E204 Path blocked

The path has been blocked for more than 120 seconds. The robot asks Beacon for a new route. If it
happens repeatedly, check the map zones and one-way aisles.

# 3xx Drive

## E301 Drive motor overcurrent

A wheel is blocked, often by debris or stretch film. Inspect and clean the wheels. After 3
occurrences within one hour the robot locks its drive and a field service visit is needed.

## E302 Wheel encoder mismatch

The wheel encoders disagree. Run "Drive calibration" from the robot page in Beacon (takes about
5 minutes, robot must be on a free, flat area of 3 x 3 metres).

# 4xx Lift and payload

## E401 Lift actuator jam

The lift did not reach its target position. Remove the load, check for objects under the lift
plate and run "Lift self-test" in Beacon.

## E402 Payload overweight

The load is heavier than the robot's rated payload: more than 200 kg for a Porter P200 or more than
600 kg for a Porter P600. The robot refuses to move. Reduce the load.

## E403 Load unstable

The tilt sensor measured more than 3 degrees of load tilt while driving. The robot stops smoothly.
Re-position the load centrally on the lift plate.

# 5xx Connectivity

## E501 Wi-Fi connection lost

The robot has had no Wi-Fi connection for more than 60 seconds. It continues its current mission
offline for up to 10 minutes, then stops at a safe spot. Check Wi-Fi coverage (at least -67 dBm
along robot routes).

## E502 Fleet server unreachable

The robot has Wi-Fi but cannot reach Beacon. Check https://status.beacon.acme.example and make sure
the firewall allows outbound TCP port 443 to fleet.beacon.acme.example without SSL inspection.

# 6xx Safety

## E601 Emergency stop pressed

An emergency stop button on the robot was pressed. Make sure the area is safe, release the button by
turning it clockwise and confirm "Resume" on the robot display and in Beacon.

## E602 Safety scanner fault

The safety laser scanner reports an internal fault. The robot must not be operated. Do not try to
reset the scanner; contact Acme support, which treats this as a priority case. Customers on the
Enterprise plan can call the 24/7 hotline.

# 7xx Firmware

## E701 Firmware checksum mismatch

A downloaded firmware image failed verification. Beacon downloads it again automatically (up to 3
times).

## E702 Update blocked: battery below 40%

The firmware update waits until the docked robot has charged to 40%.

## E703 Update timeout

The installation took longer than 45 minutes and the robot returned to its previous firmware. Retry
once, then contact support.

## E704 Incompatible hardware revision

The firmware version does not support this hardware revision (for example firmware 7.4 on a Porter
P200 hardware revision A). See the Porter Robot Firmware Update Guide.

# Contact

support@beacon.acme.example or +49 89 5550 8000 (24/7 for Enterprise customers). Have the robot
serial number, the error code and the time of the error ready.
""",
)

BACKUP_STANDARD = Doc(
    path="it/backup-and-restore-standard.pdf",
    title="Backup and Restore Standard",
    subtitle="IT-STD-012, version 3.0, approved 14 January 2026 by Miguel Santos (CTO) and Tomas "
    "Ferreira (Head of IT). Classification: Internal.",
    author="Tomas Ferreira",
    subject="Backup schedule, retention, RPO/RTO and restore procedure for Acme systems",
    keywords=("backup", "restore", "rpo", "rto", "retention", "it"),
    date=_d(2026, 1, 14),
    classification="Internal",
    body="""
# 1. Purpose and scope

This standard defines how Acme backs up its systems, how long backups are kept, how fast data can be
restored and how to request a restore. It covers the Beacon production platform and Acme's internal
systems. RPO (recovery point objective) is the maximum data loss; RTO (recovery time objective) is
the maximum time to restore service.

# 2. Backup schedule and retention

| System | Method | Frequency | Retention | RPO | RTO |
| Beacon production database (PostgreSQL) | Continuous WAL archiving plus a nightly snapshot at 01:00 UTC | Continuous | Point-in-time recovery for 35 days; monthly snapshots for 12 months | 5 minutes | 4 hours |
| Beacon telemetry and maps (object storage) | Cross-region replication Frankfurt to Paris and object versioning | Continuous | Old versions kept 30 days | 15 minutes | 8 hours |
| Git hosting | Nightly export of all repositories | Daily at 02:00 UTC | 90 days | 24 hours | 8 hours |
| File shares and company cloud drive | Nightly snapshot | Daily | 30 daily and 12 weekly copies | 24 hours | 2 business days |
| E-mail and calendars | SaaS backup service | 3 times per day | 1 year | 8 hours | 2 business days |
| PeoplePoint and Spendwise (SaaS) | Vendor backup plus weekly export by IT | Weekly | 1 year | 7 days | According to vendor SLA |
| Laptops | Not backed up | - | - | - | - |

Laptops are not backed up. Employees must keep their work in the company cloud drive or in Git.

# 3. Protection of backups

- All backups are encrypted with AES-256. Encryption keys are kept in a separate key management
  account to which production administrators have no access.
- Backups are immutable (object lock) for 14 days, so that ransomware or an administrator error
  cannot delete them.
- A copy of every backup is stored in a second EU region.
- Backup administrators are a separate role from production administrators.

===
# 4. Requesting a restore

## Files and folders

- Files deleted from the company cloud drive can be restored by yourself from the recycle bin for
  93 days.
- For file shares, use the "Restore request" form in the IT portal (https://it.acme.example) with
  the path and the date you need. Restores are done within 1 business day into a folder called
  "Restored".

## Beacon production data

- Production restores are performed only by the Platform on-call engineer and always have an
  incident ticket.
- Restoring the data of a single customer organisation needs approval from the Engineering Manager
  Platform (Ravi Menon).
- A full restore or point-in-time recovery of the production database cluster needs approval from
  the CTO.
- Customers who accidentally deleted maps or mission templates can ask Support for a restore. It is
  done within 1 business day, free of charge once per year for Professional and Enterprise
  customers.

## Git repositories

Deleted repositories can be restored by the Developer Experience team within 1 business day via an
IT portal request.

# 5. Restore testing

- The Beacon production database is restored into an isolated environment every quarter. The last
  test on 14 January 2026 restored 1.2 TB in 2 hours 40 minutes, within the 4-hour RTO. The next
  test is scheduled for April 2026.
- File share restores are tested twice a year with a sample of 20 files.
- A failed restore test is handled as a SEV3 incident and must be repeated within 30 days.

# 6. Responsibilities

- Platform Engineering: backups of the Beacon platform and quarterly restore tests.
- IT: backups of internal systems, file restore requests and the weekly SaaS exports.
- Information Security: review of this standard once a year and of backup access every quarter.
""",
)

PDF_DOCS = (SALARY_BANDS, PEN_TEST, FIRMWARE_GUIDE, RELEASE_NOTES, ERROR_CODES, BACKUP_STANDARD)

# --------------------------------------------------------------------------------------
# DOCX documents
# --------------------------------------------------------------------------------------

CALIBRATION_GUIDE = Doc(
    path="hr/performance-calibration-guide-2026.docx",
    title="2026 Performance Review Calibration Guide",
    subtitle="Confidential - HR team only. Owner: Carol Jensen, Chief People Officer. Prepared by "
    "Amira Haddad and Sanne Vermeulen. Version 1.0, 12 January 2026.",
    author="Amira Haddad",
    subject="Calibration process, distribution guidance, merit matrix and promotion criteria",
    keywords=("performance", "calibration", "merit", "promotion", "hr", "confidential"),
    date=_d(2026, 1, 12),
    classification="Confidential - HR only",
    acl={"allow_groups": ["hr"]},
    body="""
# Purpose and confidentiality

This guide is for HR Business Partners who facilitate the calibration sessions of the 2026
performance review cycle (performance year 2025). It contains the rating distribution guidance, the
merit increase matrix, the budgets and the promotion criteria. Managers receive only the parts they
need for their own session. Do not forward this guide.

# Calibration sessions

- Sessions take place from 16 to 27 February 2026. Teams in scope of Project Falcon are calibrated
  in a separate session on 24 February 2026.
- Each session groups 6 to 10 managers from the same department. The HR Business Partner
  facilitates and the department Director attends.
- Plan 90 minutes for every 25 employees.
- Managers submit proposed ratings and promotion cases in PeoplePoint by 13 February 2026. The HR
  Business Partner sends the calibration pack to participants 48 hours before the session.
- Discuss outliers first: every Exceptional, Partially meets and Does not meet rating, then all
  promotion nominations, then a spot check of Meets expectations ratings.

# Rating distribution guidance

The guidance applies at department level (at least 40 employees). It is not a forced ranking, but
a department whose distribution deviates from the guidance by more than 5 percentage points in any
rating needs a written justification from its Director.

| Rating | Guidance (share of employees) | Bonus multiplier |
| Exceptional | Up to 10% | 1.5 |
| Exceeds expectations | 20 to 25% | 1.2 |
| Meets expectations | 55 to 65% | 1.0 |
| Partially meets expectations | Up to 10% | 0.5 |
| Does not meet expectations | As needed, typically 2 to 3% | 0 (and a performance improvement plan) |

# Merit increase matrix

The merit budget is 3.0% of base payroll as of 31 December 2025. Promotions are funded from a
separate promotion budget of 1.0% of base payroll. The recommended merit increase depends on the
rating and on the compa-ratio (base salary divided by the midpoint of the employee's 2026 salary
band).

| Rating | Compa-ratio below 0.90 | Compa-ratio 0.90 to 1.10 | Compa-ratio above 1.10 |
| Exceptional | 7.0% | 5.5% | 4.0% |
| Exceeds expectations | 5.0% | 4.0% | 3.0% |
| Meets expectations | 3.5% | 2.5% | 1.5% |
| Partially meets expectations | 1.0% | 0% | 0% |
| Does not meet expectations | 0% | 0% | 0% |

- Managers may deviate by up to 1 percentage point from the matrix as long as their team stays
  within budget.
- Employees above their band maximum receive the increase as a one-time lump sum instead of a base
  salary increase.

# Promotion criteria

- At least 12 months at the current level on 1 April 2026.
- Rated Exceeds expectations or Exceptional in the 2026 cycle.
- Already working at the next level for at least 6 months, documented in a promotion case of at
  most 2 pages.
- Approved by the manager's manager and the HR Business Partner. Promotions to L6 and above are
  approved by the executive team.
- The promotion increase is typically 8 to 12% and brings the salary at least to the minimum of the
  new band.
- As a guide, about 8 to 10% of employees are promoted each year.

# Special cases

- Employees who joined after 1 October 2025 are not rated ("too new to rate"). Managers may give a
  merit increase of up to 2%.
- Employees who were on parental leave or long-term sick leave are rated on the period they worked.
  Absence must never lower a rating. If they worked less than 3 months, they keep their previous
  rating.
- Employees on a performance improvement plan cannot be promoted in this cycle.
- Ratings of employees in scope of Project Falcon must not take the reorganisation into account.

# Bias checks for facilitators

- Recency bias: does the rating reflect the whole year, not only the last quarter?
- Halo and horn effects: is one strong or weak project dominating the rating?
- Similarity bias: are managers favouring people like themselves?
- Leniency and central tendency: does a manager rate everyone Meets or everyone Exceeds?
- Check the rating distribution by gender, part-time status and remote status in the session.
- After calibration, HR runs a pay equity analysis. Unexplained pay gaps above 3% are reviewed
  before 6 March 2026.

# After calibration

- Ratings are locked in PeoplePoint on 27 February 2026 at 18:00 CET.
- Managers receive the final ratings and merit proposals by 4 March 2026.
- Salary letters are generated on 16 March 2026.
- Review conversations take place by 20 March 2026; new salaries are paid from 1 April 2026.
""",
)

EXEC_COMP_MEMO = Doc(
    path="hr/executive-compensation-memo-2026.docx",
    title="Executive Compensation 2026",
    subtitle="Memorandum from Margaret Ellison, Chair of the Compensation Committee of the Board, to "
    "Carol Jensen, Chief People Officer. 28 January 2026. Strictly confidential - addressee only.",
    author="Margaret Ellison",
    subject="Compensation Committee decisions on executive pay for 2026",
    keywords=("executive compensation", "board", "bonus", "options", "confidential"),
    date=_d(2026, 1, 28),
    classification="Strictly Confidential - addressee only",
    acl={"allow_users": ["carol@acme.example"]},
    body="""
# Decisions of the Compensation Committee

Dear Carol, the Compensation Committee met on 26 January 2026 and approved the following base
salaries, bonus targets and option grants for the executive team, effective 1 April 2026.

| Executive | Role | 2025 base salary | 2026 base salary | Target bonus 2026 | Option grant 2026 |
| Daniel Okafor | Chief Executive Officer | €305,000 | €320,000 | 60% | 120,000 options |
| Priya Raman | Chief Financial Officer | €232,000 | €245,000 | 40% | 60,000 options |
| Miguel Santos | Chief Technology Officer | €238,000 | €250,000 | 40% | 60,000 options |
| Carol Jensen | Chief People Officer | €205,000 | €215,000 | 35% | 40,000 options |
| Hannah Weber | VP Product | €178,000 | €188,000 | 30% | 30,000 options |
| Sofia Lindqvist | Chief Information Security Officer | €172,000 | €182,000 | 30% | 25,000 options |

The CEO's target bonus rises from 55% to 60% of base salary; all other targets are unchanged from
2025.

# 2025 bonus outcome

The company scorecard for 2025 was achieved at 92% of target. Executive bonuses for 2025 are paid
with the April 2026 payroll at 92% of each executive's target.

- ARR growth: 31% against a target of 35% (weight 40%).
- Beacon availability: 99.97% against a target of 99.95% (weight 20%).
- Robots shipped: 1,310 against a target of 1,200 (weight 20%).
- Employee engagement score: 78 against a target of 75 (weight 20%).
- Example: the CEO's 2025 bonus is €154,330 (55% of €305,000 multiplied by 92%).

# Long-term incentives

- Options vest over 4 years with a 1-year cliff.
- The strike price is €14.20 per share, based on the board valuation as of 31 December 2025.
- On a change of control, unvested options of the executive team vest in full if the executive's
  employment is terminated within 12 months (double trigger).

# Other terms

- Severance: 12 months of base salary for the CEO and 9 months for the other executives.
- The CEO receives a car allowance of €1,200 per month; other executives receive €800 per month.

# Actions for the Chief People Officer

- Prepare the payroll changes for the April 2026 payroll personally. Do not delegate them to the HR
  team and do not store this memo or its figures on shared HR drives.
- Prepare the individual letters by 13 March 2026 for signature by the Chair.
- Update the executive compensation disclosure for the annual report by 30 April 2026.

Margaret Ellison, Chair of the Compensation Committee
""",
)

PARENTAL_LEAVE = Doc(
    path="handbook/parental-leave-policy.docx",
    title="Parental Leave Policy",
    subtitle="People Team. Effective 1 January 2025, reviewed 5 January 2026. Applies to all "
    "employees from their first day of employment.",
    author="People Team",
    subject="Paid parental leave for birth, adoption, foster care and surrogacy",
    keywords=("parental leave", "maternity", "paternity", "adoption", "handbook"),
    date=_d(2026, 1, 5),
    classification="Internal",
    body="""
# Summary

Acme gives every parent paid leave at full pay, regardless of gender, how their family is formed or
how long they have worked at Acme.

| Situation | Paid leave at full pay | When it can be taken | Notice to your manager |
| Birthing parent | 20 weeks | Can start up to 6 weeks before the due date; the statutory protection period after birth is always taken directly after birth | 8 weeks before the planned start |
| Non-birthing parent (partner or co-parent) | 10 weeks | Any time within 12 months of the birth, in up to 3 blocks of at least 2 weeks | 4 weeks before each block |
| Adoption or foster care, primary carer | 20 weeks | Within 12 months of the placement | 4 weeks before the start |
| Adoption or foster care, secondary carer | 10 weeks | Within 12 months of the placement, in up to 3 blocks | 4 weeks before each block |
| Surrogacy (intended parents) | 20 weeks primary carer, 10 weeks secondary carer | From the birth | 8 weeks before the due date |

# Full pay

Acme tops up statutory payments (for example maternity benefit and parental allowance in Germany,
UWV benefits in the Netherlands and social security benefits in Portugal) to 100% of your base
salary for the periods in the table. Pension contributions and all benefits continue during paid
parental leave.

# Additional statutory leave

After the paid leave you can take additional statutory parental leave, for example Elternzeit in
Germany (up to 3 years per child) or ouderschapsverlof in the Netherlands. This leave is unpaid by
Acme; statutory benefits may apply. Your HR Business Partner helps you plan it.

# Keeping in touch and returning to work

- You can work up to 10 paid keeping-in-touch days during your leave. They are voluntary.
- Phased return: for the first 4 weeks after your return you can work 80% of your hours at 100%
  pay.
- You return to the same role or, if that is not possible, to an equivalent role at the same level
  and salary.
- Requests to work part-time after your return are answered within 4 weeks.

# Vacation and benefits during leave

- Vacation keeps accruing during paid parental leave.
- Vacation you could not take because of parental leave stays available until 31 December of the
  following year (instead of the usual 31 March deadline for carried-over days).
- Acme gives a birth or adoption gift of €300.

# How to apply

- Tell your manager and your HR Business Partner as soon as you feel comfortable.
- Submit the "Parental leave" form in PeoplePoint (https://people.acme.example) with the expected
  date of birth or placement.
- Your HR Business Partner meets you within 2 weeks to plan your leave and confirms it in writing.

# Pregnancy at work

- Time off for prenatal appointments is paid and does not need to be made up.
- For roles in the Munich robot lab and the Rotterdam plant, a workplace risk assessment is done as
  soon as you inform HR, and tasks are adjusted where needed.
""",
)

TRAVEL_BOOKING = Doc(
    path="handbook/travel-booking-procedure.docx",
    title="Travel Booking Procedure",
    subtitle="Finance Operations and TravelDesk. Version 2.1, 3 November 2025. Complements the "
    "Travel and Expense Policy.",
    author="Lukas Brandt",
    subject="Step-by-step procedure for approving and booking business travel",
    keywords=("travel", "booking", "traveldesk", "approval", "handbook"),
    date=_d(2025, 11, 3),
    classification="Internal",
    body="""
# Overview

All business trips are requested and booked through Acme TravelDesk (https://travel.acme.example).
TravelDesk checks bookings against the Travel and Expense Policy, gives us negotiated rates and lets
us locate travellers in an emergency.

# Step 1: Get approval

- Create a trip request in TravelDesk with the destination, dates, purpose and estimated cost.
- Your manager approves within 2 working days. Intercontinental trips also need VP approval.
- Trips to countries rated high-risk by our travel security provider also need approval from
  Information Security.

# Step 2: Book on time

| Trip type | Approval | Book at least |
| Domestic day trip | Manager | 3 days ahead |
| Domestic trip with an overnight stay | Manager | 7 days ahead |
| Flight within Europe | Manager | 14 days ahead |
| Intercontinental flight | Manager and VP | 21 days ahead |
| Trade fair or conference | Manager and event budget owner | 6 weeks ahead |

## Booking channels

- Self-booking in TravelDesk for flights, trains, hotels and rental cars.
- Our travel agency Meridian Business Travel books complex trips: +49 89 5550 6600 or
  travel@acme.example, Monday to Friday 08:00 to 19:00 CET.
- Urgent changes while travelling: Meridian's 24/7 line +49 89 5550 6699.

## Hotels

- Stay within the nightly cap of the city tier: €250 in Tier 1 cities (for example London or New
  York), €180 in Tier 2 cities (for example Munich, Rotterdam or Lisbon) and €130 elsewhere.
- Preferred hotels with negotiated rates including breakfast: Hotel Isarblick in Munich (€142),
  Maashaven Hotel in Rotterdam (€128) and Casa Alfama Business in Lisbon (€115).

## Trains and flights

- Take the train for journeys under 4 hours.
- Employees with more than 6 train trips per year in Germany get a BahnCard 50 paid by Acme.
- Book economy class for flights under 6 hours. The rules for premium economy and business class
  are in the Travel and Expense Policy.

# Step 3: Before you travel

- Business travel insurance covers all business trips worldwide automatically (Nordlicht
  Versicherung, policy NV-77120). Medical emergency assistance, 24/7: +49 40 5550 2300.
- For business trips to another EU country you need an A1 certificate (social security). Request
  it in PeoplePoint at least 5 working days before the trip.
- Check passport validity and visa requirements; Meridian can arrange visas.

# Step 4: During the trip

- Make changes through TravelDesk or Meridian so that your itinerary stays up to date.
- Costs of changes made for personal reasons are not reimbursed.

# Step 5: After the trip

- Submit your expenses and per diem in Spendwise within 30 days. The per diem is €60 per full day
  domestic and €75 per full day abroad.
- Unused tickets must be cancelled or refunded through TravelDesk.

# Combining business and private travel

Adding private days to a business trip is allowed if it causes no extra cost for Acme. Private days
are at your own cost, and the business travel insurance covers only the business part of the trip.
""",
)

ACCESS_REQUESTS = Doc(
    path="it/access-request-procedure.docx",
    title="Access Request Procedure",
    subtitle="IT-PRC-004, version 2.3, 6 January 2026. Owner: Tomas Ferreira (Head of IT) with "
    "Information Security.",
    author="Tomas Ferreira",
    subject="How to request, approve and review access to Acme systems",
    keywords=("access", "permissions", "approval", "break-glass", "it"),
    date=_d(2026, 1, 6),
    classification="Internal",
    body="""
# Principles

- Least privilege: people get the access they need for their job, and no more.
- Privileged access to production is time-limited and logged.
- Every access is requested, approved and recorded in the IT portal.

# How to request access

- Open the IT portal at https://it.acme.example and choose "Request access". Select the system and
  the role, and explain the business reason.
- Approvals are routed automatically: first your manager, then the system owner.
- Access is granted within 2 business days after the last approval.
- For new joiners, the manager requests access through the onboarding checklist at least 5 working
  days before the start date.

# Approval matrix

| System | Role | Approvers | Maximum duration |
| Standard workplace (e-mail, Slack, intranet, Acme Vault) | All employees | Automatic at onboarding | Employment |
| GitHub (Acme organisation) | Engineering write access | Manager | Employment, reviewed quarterly |
| Beacon production console | Support view (read-only) | Manager and Beacon Platform system owner (Ravi Menon) | 90 days, renewable |
| Beacon production database | Read/write (break-glass) | Manager, system owner and CTO | 8 hours |
| Cloud production accounts | Administrator (just-in-time) | Platform on-call or system owner | 12 hours |
| Spendwise | Finance administrator | Manager and Finance Operations (Lukas Brandt) | 12 months |
| PeoplePoint | HR administrator | Chief People Officer (Carol Jensen) | 12 months |
| Salesforce CRM | Sales user | Manager and Sales Operations | Employment |
| Robot lab network (Acme-Lab) | Device registration | Lab manager (Marta Nowak) | 12 months |

# Break-glass access to production

- Break-glass access is only for SEV1 and SEV2 incidents when normal access is not enough.
- Request it with the break-glass action in AlertHub. The on-call engineering manager approves; for
  a SEV1 the CTO's approval may be given afterwards, within 24 hours.
- All break-glass sessions are recorded, and the credentials are rotated automatically after 8
  hours.
- Every break-glass use is reviewed in the incident postmortem.

# Access reviews

- System owners review all access every quarter, in January, April, July and October.
- Access that is not confirmed within 14 days of the review is removed.

# Joiners, movers and leavers

- Leavers: all access is revoked automatically at 18:00 on the last working day, or immediately in
  case of termination.
- Movers: access from the previous role is reviewed by the new manager within 30 days.
- Contractors: access ends on the contract end date and is granted for at most 6 months at a time.

# Contact

IT Service Desk: +49 89 5550 4357, servicedesk@acme.example.
""",
)

CUSTOMER_ONBOARDING = Doc(
    path="product/beacon-customer-onboarding-guide.docx",
    title="Beacon Customer Onboarding Guide",
    subtitle="For Customer Success managers and customer project leads. Version 4.0, 10 December "
    "2025. Owner: Elena Petrova, Head of Customer Success.",
    author="Elena Petrova",
    subject="Phases, site requirements and checklists for onboarding a Beacon customer",
    keywords=("onboarding", "customer success", "beacon", "site survey", "go-live"),
    date=_d(2025, 12, 10),
    classification="Internal",
    body="""
# Overview

A typical Beacon onboarding takes 7 weeks from kickoff to go-live, followed by 30 days of hypercare.
The Customer Success manager (CSM) leads the project on the Acme side.

| Phase | Duration | Acme owner | Customer owner | Exit criteria |
| 1. Kickoff | Week 1 | Customer Success manager | Project lead | Project plan signed, admin accounts created |
| 2. Site survey and mapping | Weeks 1 to 2 | Field engineer | Facilities | Wi-Fi survey passed, map approved |
| 3. Integration | Weeks 2 to 4 | Solutions engineer | IT and WMS team | WMS integration tested in the sandbox |
| 4. Pilot | Weeks 4 to 6 | Customer Success manager | Operations | Pilot KPIs met, including at least 98% mission success |
| 5. Go-live | Week 7 | Field engineer | Operations | All robots live in production |
| 6. Hypercare | 30 days after go-live | Customer Support | Operations | No open SEV1 or SEV2 issues; handover to standard support |

# Site requirements

- Wi-Fi coverage of at least -67 dBm along all robot routes and at the docks.
- Aisle width: at least 1.2 metres for Porter P200 and 1.8 metres for Porter P600 (double for
  two-way traffic).
- Floors: ramps of at most 5% for P200 and 3% for P600; gaps and thresholds under 10 mm.
- One charging dock for every 4 robots, each on its own 230 V, 16 A circuit.
- Network: outbound TCP port 443 to fleet.beacon.acme.example and api.beacon.acme.example, without
  SSL inspection for robot traffic.

# Beacon roles

- Admin: manages users, API tokens, webhooks, billing and all settings.
- Fleet Engineer: manages maps, zones, missions and firmware rollouts.
- Operator: monitors robots, starts missions, pauses and resumes robots.
- Viewer: read-only access to dashboards and reports.

# Integration

- Simple integrations use API tokens; WMS integrations on the Professional and Enterprise plans
  should use OAuth 2.0 client credentials.
- Use webhooks (mission.completed, mission.failed, robot.error) instead of polling.
- Every customer gets a sandbox organisation during onboarding. On the Starter plan the sandbox is
  deleted 90 days after go-live.

# Training

- Operator training: 2 hours on site for each shift.
- Fleet Engineer training: 1 day, with a certificate.
- Self-paced courses at https://academy.beacon.acme.example.

# Go-live checklist

- All robots on a supported firmware version (7.3.1 or 7.4.2).
- Emergency stop test done on every robot, with the result recorded.
- Escalation contacts and on-site responsibilities agreed for each shift.
- Customer admins have created their own API tokens; onboarding tokens revoked.
- Status page subscription set up for the customer's operations team.

# Escalation during onboarding

The CSM is the first contact. Technical issues go to support@beacon.acme.example. Enterprise
customers can call the 24/7 hotline +49 89 5550 8000.
""",
)

DOCX_DOCS = (
    CALIBRATION_GUIDE,
    EXEC_COMP_MEMO,
    PARENTAL_LEAVE,
    TRAVEL_BOOKING,
    ACCESS_REQUESTS,
    CUSTOMER_ONBOARDING,
)

# --------------------------------------------------------------------------------------
# Markup parsing
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    kind: str  # "h1", "h2", "p", "li", "table", "pagebreak"
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()


def _row(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in line.strip().strip("|").split("|"))


_SINGLE_LINE = (("===", "pagebreak"), ("## ", "h2"), ("# ", "h1"))


class _Parser:
    """Accumulates continuation lines into paragraphs/bullets and table rows into tables."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.kind = ""
        self.rows: list[tuple[str, ...]] = []

    def flush(self) -> Iterator[Block]:
        if self.lines:
            yield Block(self.kind, " ".join(self.lines))
        if self.rows:
            yield Block("table", rows=tuple(self.rows))
        self.lines, self.kind, self.rows = [], "", []

    def feed(self, line: str) -> Iterator[Block]:
        if line.startswith("  ") and self.lines:
            self.lines.append(line.strip())
            return
        is_row = line.startswith("|")
        if (is_row and self.lines) or (self.rows and not is_row) or not line:
            yield from self.flush()
        if is_row:
            self.rows.append(_row(line))
            return
        for prefix, kind in _SINGLE_LINE:
            if line.startswith(prefix):
                yield from self.flush()
                yield Block(kind, line[len(prefix) :].strip())
                return
        if line.startswith("- "):
            yield from self.flush()
            self.lines, self.kind = [line[2:]], "li"
        elif line:
            self.kind = self.kind or "p"
            self.lines.append(line)


def parse(body: str) -> Iterator[Block]:
    """Turn the markup described in the module docstring into blocks."""
    parser = _Parser()
    for raw in body.strip("\n").splitlines():
        yield from parser.feed(raw.rstrip())
    yield from parser.flush()


# --------------------------------------------------------------------------------------
# PDF rendering (fpdf2, core font Helvetica)
# --------------------------------------------------------------------------------------


class _Pdf(FPDF):
    def __init__(self, doc: Doc) -> None:
        super().__init__(format="A4")
        self.doc = doc

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font("Helvetica", "", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, f"Acme Robotics  |  {self.doc.title}", align="R")
        self.ln(10)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, f"{self.doc.classification}  |  Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def _pdf_heading(pdf: _Pdf, text: str, level: int) -> None:
    if pdf.get_y() > pdf.h - 50:
        pdf.add_page()
    pdf.start_section(text, level=level)
    pdf.ln(3 if level else 5)
    pdf.set_font("Helvetica", "B", 14 if level == 0 else 11.5)
    pdf.multi_cell(0, 7 if level == 0 else 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)


def _column_widths(pdf: _Pdf, rows: tuple[tuple[str, ...], ...]) -> list[float]:
    """Widths (mm) that never break a word and share the remaining space by text length."""
    pad = 2 * pdf.c_margin + 1.5
    shortest, preferred = [], []
    for i in range(len(rows[0])):
        cells = [row[i] for row in rows]
        shortest.append(
            max(pdf.get_string_width(w) for c in cells for w in c.split() or [""]) + pad
        )
        preferred.append(max(pdf.get_string_width(c) for c in cells) + pad)
    if sum(preferred) <= pdf.epw:
        return preferred
    spare = max(pdf.epw - sum(shortest), 0.0)
    stretch = [p - s for p, s in zip(preferred, shortest, strict=True)]
    total = sum(stretch) or 1.0
    return [s + spare * x / total for s, x in zip(shortest, stretch, strict=True)]


def _pdf_table(pdf: _Pdf, rows: tuple[tuple[str, ...], ...]) -> None:
    pdf.set_font("Helvetica", "B", 8.5)  # measure with the (wider) heading font
    widths = _column_widths(pdf, rows)
    pdf.set_font("Helvetica", "", 8.5)
    with pdf.table(
        col_widths=widths, width=sum(widths), align="LEFT", text_align="LEFT", line_height=4.6
    ) as table:
        for row in rows:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.ln(3)


def render_pdf(doc: Doc) -> bytes:
    pdf = _Pdf(doc)
    pdf.set_creation_date(doc.date)
    pdf.set_title(doc.title)
    pdf.set_author(doc.author)
    pdf.set_subject(doc.subject)
    pdf.set_keywords(", ".join(doc.keywords))
    pdf.set_creator("grounded scripts/make_sample_corpus.py")
    pdf.set_lang("en")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.multi_cell(0, 10, doc.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("Helvetica", "I", 9.5)
    pdf.multi_cell(0, 5, doc.subtitle, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    for block in parse(doc.body):
        if block.kind in ("h1", "h2"):
            _pdf_heading(pdf, block.text, 0 if block.kind == "h1" else 1)
        elif block.kind == "pagebreak":
            pdf.add_page()
        elif block.kind == "table":
            _pdf_table(pdf, block.rows)
        elif block.kind == "li":
            pdf.set_font("Helvetica", "", 10)
            pdf.set_x(pdf.l_margin + 3)
            pdf.cell(5, 5.2, "-")
            pdf.multi_cell(0, 5.2, block.text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(0.8)
        else:
            pdf.set_font("Helvetica", "", 10)
            pdf.multi_cell(0, 5.2, block.text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(2.5)
    return bytes(pdf.output())


# --------------------------------------------------------------------------------------
# DOCX rendering (python-docx)
# --------------------------------------------------------------------------------------


def _docx_table(document: docx.document.Document, rows: tuple[tuple[str, ...], ...]) -> None:
    table = document.add_table(rows=0, cols=len(rows[0]))
    table.style = "Table Grid"
    for index, row in enumerate(rows):
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = value
            if index == 0:
                for run in cell.paragraphs[0].runs:
                    run.bold = True
    document.add_paragraph()


def _deterministic_zip(data: bytes) -> bytes:
    """Rewrite a zip container with fixed member timestamps and permissions."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=ZIP_TIMESTAMP)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            dst.writestr(member, src.read(info.filename))
    return out.getvalue()


def render_docx(doc: Doc) -> bytes:
    document = docx.Document()
    props = document.core_properties
    props.title = doc.title
    props.subject = doc.subject
    props.author = doc.author
    props.keywords = ", ".join(doc.keywords)
    props.category = doc.classification
    props.comments = "Acme Robotics sample corpus (fictional company)."
    props.last_modified_by = doc.author
    props.created = doc.date.replace(tzinfo=None)
    props.modified = doc.date.replace(tzinfo=None)
    props.last_printed = doc.date.replace(tzinfo=None)
    props.revision = 1
    props.language = "en-GB"
    document.styles["Normal"].font.size = Pt(10.5)
    document.sections[0].footer.paragraphs[0].text = f"Acme Robotics - {doc.classification}"

    document.add_paragraph(doc.title, style="Title")
    document.add_paragraph(doc.subtitle, style="Subtitle")
    for block in parse(doc.body):
        if block.kind == "h1":
            document.add_heading(block.text, level=1)
        elif block.kind == "h2":
            document.add_heading(block.text, level=2)
        elif block.kind == "li":
            document.add_paragraph(block.text, style="List Bullet")
        elif block.kind == "table":
            _docx_table(document, block.rows)
        elif block.kind == "p":
            document.add_paragraph(block.text)
    buffer = io.BytesIO()
    document.save(buffer)
    return _deterministic_zip(buffer.getvalue())


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def _sidecar(doc: Doc) -> bytes:
    assert doc.acl is not None
    name = Path(doc.path).name
    text = f"# ACL sidecar for {name} (generated by scripts/make_sample_corpus.py)\n"
    text += yaml.safe_dump(doc.acl, default_flow_style=None, sort_keys=True)
    return text.encode()


def _check_latin1(doc: Doc) -> None:
    for field in (doc.title, doc.subtitle, doc.author, doc.subject, doc.body, doc.classification):
        try:
            field.encode("latin-1")
        except UnicodeEncodeError as exc:
            bad = field[exc.start : exc.end]
            raise SystemExit(f"{doc.path}: non latin-1 text {bad!r} in PDF source") from exc


def build() -> dict[str, bytes]:
    """Render every generated file; returns {relative path: bytes}."""
    files: dict[str, bytes] = {}
    for doc in PDF_DOCS:
        _check_latin1(doc)
        files[doc.path] = render_pdf(doc)
    for doc in DOCX_DOCS:
        files[doc.path] = render_docx(doc)
    for doc in (*PDF_DOCS, *DOCX_DOCS):
        if not doc.path.endswith(GENERATED_SUFFIXES):
            raise SystemExit(f"refusing to generate {doc.path}: only PDF and DOCX are generated")
        if doc.acl:
            files[f"{doc.path}.acl.yaml"] = _sidecar(doc)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=CORPUS, help="corpus directory")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)

    files = build()
    if args.check:
        stale = [p for p, data in files.items() if _read(args.out / p) != data]
        for path in stale:
            print(f"stale: {path}")
        return 1 if stale else 0
    for rel, data in sorted(files.items()):
        target = args.out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if _read(target) != data:
            target.write_bytes(data)
            print(f"wrote {rel} ({len(data):,} bytes)")
        else:
            print(f"unchanged {rel}")
    return 0


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
