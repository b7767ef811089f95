"""The monitor tried as an attacker and as a new admin would: one test per failure mode,
each against real servers on loopback, each asserting the safe outcome.

=====  ==========================================================  =================================
 #     what must not happen                                         pinned by
=====  ==========================================================  =================================
 1     an empty/short web token switches authentication off;       test_f01_authentication.py
       guessing is not slowed
 2     a DNS-rebinding page reads the fleet                         test_f02_dns_rebinding.py
 3     a huge MDM answer takes the memory, the sweep says ok        test_f03_huge_answers.py
 4     megabyte device names bloat the database and messages       test_f04_long_strings.py
 5     secrets reach the database or receivers (``${ENV}`` in       test_f05_secrets.py
       rules and templates, a token echoed by the API)
 6     a user regex freezes the daemon                              test_f06_regex.py
 7     device data injects formatting (links, mentions, forged      test_f07_injection.py
       lines, control and bidi characters)
 8     start failures hang or print tracebacks with exit 1          test_f08_start_failures.py
 9     a read-only or locked store fails silently                   test_f09_store_failure.py
 10    ``validate`` passes configs that cannot work; a permanent    test_f10_validate.py,
       delivery failure is retried for days                         test_f10_permanent_delivery.py
 12    the container health check fails with a web token; the       test_f12_container.py
       image runs the example config
 13    templates and config files take unbounded memory and time   test_f13_template_bounds.py
=====  ==========================================================  =================================

(Finding 11, retries stacking, is pinned with the one retry policy in
tests/faults/test_retry_policy.py: one page is sent at most ``max_attempts`` times.)
Local-state commands running without MDM tokens: test_local_state_commands.py.
apprise's notification type following the message (failure, warning, success):
tests/e2e/test_alerting_features.py::test_the_notification_type_follows_severity_so_receivers_colour_it.
How long each kind of start failure takes to end: bench/start_failures.py.
"""
