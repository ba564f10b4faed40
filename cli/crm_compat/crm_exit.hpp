// The exit codes hactl-crm gives, chosen to be Pacemaker 2.1's (crm_exit_e in Pacemaker's
// include/crm/common/results.h; `crm_error -X N` names them). Agents mostly test "zero or not"
// or the emptiness of the output, but the values are kept so that a script written against
// Pacemaker 2.1 reads the same outcome.
#pragma once

namespace hactl::crm {

enum CrmExit : int {
  kExitOk = 0,             // CRM_EX_OK
  kExitError = 1,          // CRM_EX_ERROR: the agent refused or answered an error
  kExitInvalidParam = 2,   // CRM_EX_INVALID_PARAM: an operand of the wrong form
  kExitUnimplemented = 3,  // CRM_EX_UNIMPLEMENT_FEATURE: a Pacemaker option hactl refuses
  kExitUsage = 64,         // CRM_EX_USAGE: unknown option, missing operand, no command
  kExitUnavailable = 69,   // CRM_EX_UNAVAILABLE: the local hactl-agent could not be reached
  // CRM_EX_NOSUCH: no such attribute, node, resource or parameter. Pacemaker 1.1 exited 6
  // (ENXIO) here; 2.1 (Debian 12 ships 2.1.5) exits 105. The Debian agents do not test the
  // value: pgsql and galera test the output for emptiness, mariadb the exit for zero.
  kExitNoSuch = 105,
};

}  // namespace hactl::crm
