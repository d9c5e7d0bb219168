/*
 * The module's entry points, as glibc's NSS calls them (nss_appuser.map
 * exports exactly these).  Declared once for the module and for what calls
 * them directly (tests/fuzz/fuzz_nss_snapshot.c).
 */
#ifndef APPUSER_NSS_ENTRY_H
#define APPUSER_NSS_ENTRY_H

#include <grp.h>
#include <nss.h>
#include <pwd.h>

enum nss_status _nss_appuser_getpwnam_r(const char *, struct passwd *,
    char *, size_t, int *);
enum nss_status _nss_appuser_getpwuid_r(uid_t, struct passwd *, char *,
    size_t, int *);
enum nss_status _nss_appuser_setpwent(int);
enum nss_status _nss_appuser_getpwent_r(struct passwd *, char *, size_t,
    int *);
enum nss_status _nss_appuser_endpwent(void);
enum nss_status _nss_appuser_getgrnam_r(const char *, struct group *,
    char *, size_t, int *);
enum nss_status _nss_appuser_getgrgid_r(gid_t, struct group *, char *,
    size_t, int *);
enum nss_status _nss_appuser_setgrent(int);
enum nss_status _nss_appuser_getgrent_r(struct group *, char *, size_t,
    int *);
enum nss_status _nss_appuser_endgrent(void);
enum nss_status _nss_appuser_initgroups_dyn(const char *, gid_t, long int *,
    long int *, gid_t **, long int, int *);

#endif
