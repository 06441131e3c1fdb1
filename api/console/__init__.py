"""The DPO web console at ``/console``: served by the API's Flask app, signed in with its own
users and server-side sessions (never API keys; the API never accepts its cookies).

Pages are server-rendered Jinja templates; ``static/`` holds the one stylesheet
and one small script (progressive only: every page works without JavaScript).
Users: ``piivault users create --username U --role dpo|auditor|admin``.

URL map and stable selectors for browser tests (POST forms carry ``csrf_token``)::

  /console/login                      GET, POST   sign in
      #login-form  input[name=username]  input[name=password]  #login-submit  #login-error
  /console/logout                     POST        sign out: #signout-form  button#signout
  /console/lang                       POST        #lang-switch  button#lang-zh  button#lang-en (name=lang)
  /console/                           GET         dashboard
      #dashboard  #dashboard-requests  #audit-health  #consent-chart  #recent-extracts
  /console/me                         GET, POST   #preferences-form  select[name=language]
      input[name=time_zone]
  /console/me/password                POST        #password-form  input[name=current|new|confirm]
  /console/subjects                   GET, POST   find a subject
      #subject-search  input[name=by] (#by-subject_id, #by-token, #by-value)  select[name=field_type]
      input[name=q]  #subject-search-submit  #search-results  #no-match
  /console/subjects/<id>              GET         subject page
      #subject[data-subject]  #state  #data-held  #field-types  #consents  #consent-table
      [data-testid=consent-state-<purpose>]  #consent-history  #holds  #hold-table
      #restriction-notice (when restricted)  #subject-requests  #access-log
  /console/subjects/<id>/reveal       POST        #reveal-form  select[name=purpose]  #reveal-submit
  /console/subjects/<id>/consents/grant     POST  #consent-grant-form  select[name=purpose|channel]
      #consent-grant
  /console/subjects/<id>/consents/withdraw  POST  #consent-withdraw-form  select[name=purpose|channel]
      #consent-withdraw
  /console/subjects/<id>/holds        POST        #hold-form  select[name=reason_code]  input[name=ends_on]
      #hold-submit
  /console/subjects/<id>/holds/<hold>/release  POST  #hold-release-<hold_id>  select[name=reason_code]
  /console/subjects/<id>/lift-restriction      POST  #restriction-lift-form  #restriction-lift
  /console/subjects/<id>/close        POST        #subject-close-form  input[name=confirm]  #subject-close
  /console/dsr                        GET         #dsr-list  #dsr-filter (show=open|overdue|completed|...)
      #dsr-new
  /console/dsr/new                    GET, POST   #dsr-create-form  input[name=subject_id]
      select[name=type|channel]  #dsr-create
  /console/dsr/<id>                   GET         #dsr-detail[data-state]  #dsr-actions  #dsr-steps
  /console/dsr/<id>/verify            POST        #dsr-verify-form  select[name=method]  #dsr-verify
  /console/dsr/<id>/approve           POST        #dsr-approve-form  button#dsr-approve
  /console/dsr/<id>/reject            POST        #dsr-reject-form  select[name=reason_code]  #dsr-reject
  /console/dsr/<id>/execute           GET         review: link#dsr-execute leads to #dsr-execute-review
      #erasure-outcome[data-outcome=shred|restrict]  #erasure-holds
                                      POST        #dsr-execute-form  input[name=confirm] (erasure only)
      #dsr-execute-confirm
  /console/dsr/<id>/package?format=json|html  GET  #dsr-package-json  #dsr-package-html (audited)
  /console/purposes                   GET         #purposes  #purpose-new
  /console/purposes/new               GET, POST   #purpose-form  #purpose-save
  /console/purposes/<code>            GET, POST   #purpose-form  #purpose-save  #notices  #purpose-history
  /console/purposes/<code>/notices    POST        #notice-form  #notice-publish
  /console/audit                      GET         #audit  #checkpoint  #checkpoint-note  #public-key
      #audit-search-form (subject, actor, action, since, until)  #audit-results  #audit-next
  /console/audit/verify               POST        #audit-verify-form  button#audit-verify
      then #audit-verify-result[data-ok=true|false]
  /console/audit/checkpoint           GET         #checkpoint-download (the signed note)
  /console/approvals                  GET, POST   #approvals-inbox  #inbox-table  #my-requests
      #approval-new  #approval-form (subject_id, purpose, minutes, reason_code, reason_text)
      #approval-submit  tr[data-approval]  [data-testid=approval-state-<id>][data-state]
  /console/approvals/<id>/approve|deny|withdraw  POST  #approve-<id>  #deny-<id>  #withdraw-<id>
  /console/grants/<id>/revoke         POST        #revoke-<id> (input[name=next]); on the subject
      page #grants  #grant-table  tr[data-grant][data-kind]  #grant-ask  #grant-break-glass
  /console/break-glass                GET, POST   #break-glass-take  #break-glass-form  #break-glass-submit
      #break-glass-uses
  /console/break-glass/<id>/review    POST        #review-<id>  input[name=note]; on the dashboard
      #break-glass-unreviewed[data-count]  #approvals-waiting[data-count] (requests I may decide)
  /console/users                      GET, POST   admin: #users  #user-create-form  #user-create
  /console/users/<u>/disable|enable   POST        #user-disable-<u>  #user-enable-<u>
  /console/users/<u>/password         POST        #user-password-<u>

On every page: ``#main``, ``#nav`` (``#nav-dashboard``, ``#nav-subjects``, ``#nav-dsr``,
``#nav-purposes``, ``#nav-audit``, ``#nav-approvals``, ``#nav-users``),
``#break-glass-banner`` (while a break-glass grant is in force), ``[data-testid=current-user]``,
``#flash`` (success), ``#form-error`` (a service refused), ``.field-error`` (a field's
message, ``#<name>-error``), ``#error-page`` / ``#error-message`` (400 CSRF, 403 role,
404, 503), ``#login-error`` (sign-in refused).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the `piivault users` commands import this package without Flask
    from flask import Flask

BLUEPRINT = "console"


def public_blueprints(enabled: bool) -> tuple[str, ...]:
    """Blueprints the API's bearer-key check skips: the console checks its own sessions."""
    return (BLUEPRINT,) if enabled else ()


def register(app: Flask, *, enabled: bool) -> None:
    """Mount the console at ``/console`` (unless ``PIIVAULT_CONSOLE=false``)."""
    if not enabled:
        return
    from api.console import views  # noqa: F401  (registers the routes)
    from api.console.web import blp

    app.register_blueprint(blp)
