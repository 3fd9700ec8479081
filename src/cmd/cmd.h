/* cmd.h -- the subcommands of the vexxy binary. Each parses its argv (argv[0] is the
 * subcommand name), builds a config, calls the library and maps the outcome to an exit
 * code: 0 done, 1 done with a negative outcome (e.g. --fail-on affected), 2 error/usage.
 */
#ifndef VX_CMD_CMD_H
#define VX_CMD_CMD_H

#define VX_EXIT_OK       0
#define VX_EXIT_NEGATIVE 1
#define VX_EXIT_ERROR    2

int vx_cmd_serve(int argc, char **argv);     /* serve.c */
int vx_cmd_worker(int argc, char **argv);    /* worker.c */
int vx_cmd_analyze(int argc, char **argv);   /* analyze.c */
int vx_cmd_submit(int argc, char **argv);    /* client.c */
int vx_cmd_status(int argc, char **argv);    /* client.c */
int vx_cmd_results(int argc, char **argv);   /* client.c */
int vx_cmd_cancel(int argc, char **argv);    /* client.c */
int vx_cmd_list(int argc, char **argv);      /* client.c */
int vx_cmd_vex(int argc, char **argv);       /* client.c */
int vx_cmd_admin(int argc, char **argv);     /* admin.c */
int vx_cmd_image(int argc, char **argv);     /* image.c */
int vx_cmd_inventory(int argc, char **argv); /* inventory.c */
int vx_cmd_findings(int argc, char **argv);  /* findings.c */
int vx_cmd_sandbox(int argc, char **argv);   /* sandbox.c */
/* `vexxy sandbox agent` (agent.c): the Kubernetes tracer sidecar; argv[0] is "agent". */
int vx_cmd_sandbox_agent(int argc, char **argv);
int vx_cmd_trace(int argc, char **argv);     /* trace.c */

/* Shared by subcommands (util.c): "--db" default from VEXXY_DB or sqlite:<data-dir>/vexxy.db;
 * data dir from VEXXY_DATA_DIR or /var/lib/vexxy (root) / $XDG_STATE_HOME/vexxy. Caller frees. */
char *vx_cmd_default_data_dir(void);
char *vx_cmd_default_db(const char *data_dir);

#endif
