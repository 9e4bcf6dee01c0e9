package dcerpc

// Interface describes a well-known RPC interface: its short name as nspicap
// prints it, and the names of its operations where we know them.
type Interface struct {
	UUID UUID
	Name string
	Ops  []string
}

// Well-known interfaces (notes §0; MS-RPCE, MS-OXCRPC, MS-OXABREF, MS-NSPI,
// MS-DRSR, MS-SAMR, MS-LSAD, MS-NRPC, MS-RPRN, MS-SRVS, MS-WKST, MS-RRP,
// MS-SCMR, MS-DCOM).
var (
	NSPI        = MustParseUUID("f5cc5a18-4264-101a-8c59-08002b2f8426")
	EMSMDB      = MustParseUUID("a4f1db00-ca47-1067-b31f-00dd010662da")
	AsyncEMSMDB = MustParseUUID("5261574a-4572-206e-b268-6b199213b4e4")
	RFR         = MustParseUUID("1544f5e0-613c-11d1-93df-00c04fd7bd09")
	EPM         = MustParseUUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")
	NDR         = MustParseUUID("8a885d04-1ceb-11c9-9fe8-08002b104860")
	NDR64       = MustParseUUID("71710533-beba-4937-8319-b5dbef9ccc36")
)

var known = map[UUID]*Interface{}

func init() {
	for _, i := range []Interface{
		{NSPI, "nspi", nil}, // names live in package nspi
		{EMSMDB, "emsmdb", []string{"EcDoConnect", "EcDoDisconnect", "EcDoRpc", "EcGetMoreRpc",
			"EcRRegisterPushNotification", "EcRUnregisterPushNotification", "EcDummyRpc", "EcRGetDCName",
			"EcRNetGetDCName", "EcDoRpcExt", "EcDoConnectEx", "EcDoRpcExt2", "", "", "EcDoAsyncConnectEx"}},
		{AsyncEMSMDB, "asyncemsmdb", []string{"EcDoAsyncWaitEx"}},
		{RFR, "rfr", []string{"RfrGetNewDSA", "RfrGetFQDNFromServerDN"}},
		{EPM, "epm", []string{"ept_insert", "ept_delete", "ept_lookup", "ept_map", "ept_lookup_handle_free",
			"ept_inq_object", "ept_mgmt_delete"}},
		{MustParseUUID("e3514235-4b06-11d1-ab04-00c04fc2dcd2"), "drsuapi", []string{"DRSBind", "DRSUnbind",
			"DRSReplicaSync", "DRSGetNCChanges", "DRSUpdateRefs", "DRSReplicaAdd", "DRSReplicaDel",
			"DRSReplicaModify", "DRSVerifyNames", "DRSGetMemberships", "DRSInterDomainMove",
			"DRSGetNT4ChangeLog", "DRSCrackNames", "DRSWriteSPN", "DRSRemoveDsServer", "DRSRemoveDsDomain",
			"DRSDomainControllerInfo", "DRSAddEntry", "DRSExecuteKCC", "DRSGetReplInfo", "DRSAddSidHistory",
			"DRSGetMemberships2", "DRSReplicaVerifyObjects", "DRSGetObjectExistence", "DRSQuerySitesByCost"}},
		// MS-SAMR 3.1.5; "" for opnums not used on the wire.
		{MustParseUUID("12345778-1234-abcd-ef00-0123456789ac"), "samr", []string{"SamrConnect", "SamrCloseHandle", "SamrSetSecurityObject", "SamrQuerySecurityObject", "", "SamrLookupDomainInSamServer", "SamrEnumerateDomainsInSamServer", "SamrOpenDomain", "SamrQueryInformationDomain", "SamrSetInformationDomain", "SamrCreateGroupInDomain", "SamrEnumerateGroupsInDomain", "SamrCreateUserInDomain", "SamrEnumerateUsersInDomain", "SamrCreateAliasInDomain", "SamrEnumerateAliasesInDomain", "SamrGetAliasMembership", "SamrLookupNamesInDomain", "SamrLookupIdsInDomain", "SamrOpenGroup", "SamrQueryInformationGroup", "SamrSetInformationGroup", "SamrAddMemberToGroup", "SamrDeleteGroup", "SamrRemoveMemberFromGroup", "SamrGetMembersInGroup", "SamrSetMemberAttributesOfGroup", "SamrOpenAlias", "SamrQueryInformationAlias", "SamrSetInformationAlias", "SamrDeleteAlias", "SamrAddMemberToAlias", "SamrRemoveMemberFromAlias", "SamrGetMembersInAlias", "SamrOpenUser", "SamrDeleteUser", "SamrQueryInformationUser", "SamrSetInformationUser", "SamrChangePasswordUser", "SamrGetGroupsForUser", "SamrQueryDisplayInformation", "SamrGetDisplayEnumerationIndex", "", "", "SamrGetUserDomainPasswordInformation", "SamrRemoveMemberFromForeignDomain", "SamrQueryInformationDomain2", "SamrQueryInformationUser2", "SamrQueryDisplayInformation2", "SamrGetDisplayEnumerationIndex2", "SamrCreateUser2InDomain", "SamrQueryDisplayInformation3", "SamrAddMultipleMembersToAlias", "SamrRemoveMultipleMembersFromAlias", "SamrOemChangePasswordUser2", "SamrUnicodeChangePasswordUser2", "SamrGetDomainPasswordInformation", "SamrConnect2", "SamrSetInformationUser2", "", "", "", "SamrConnect4", "", "SamrConnect5", "SamrRidToSid", "SamrSetDSRMPassword", "SamrValidatePassword"}},
		// MS-LSAD 3.1.4 and MS-LSAT 3.1.4; "" for opnums not used on the wire.
		{MustParseUUID("12345778-1234-abcd-ef00-0123456789ab"), "lsarpc", []string{"LsarClose", "", "LsarEnumeratePrivileges", "LsarQuerySecurityObject", "LsarSetSecurityObject", "", "LsarOpenPolicy", "LsarQueryInformationPolicy", "LsarSetInformationPolicy", "", "LsarCreateAccount", "LsarEnumerateAccounts", "LsarCreateTrustedDomain", "LsarEnumerateTrustedDomains", "LsarLookupNames", "LsarLookupSids", "LsarCreateSecret", "LsarOpenAccount", "LsarEnumeratePrivilegesAccount", "LsarAddPrivilegesToAccount", "LsarRemovePrivilegesFromAccount", "", "", "LsarGetSystemAccessAccount", "LsarSetSystemAccessAccount", "LsarOpenTrustedDomain", "LsarQueryInfoTrustedDomain", "LsarSetInformationTrustedDomain", "LsarOpenSecret", "LsarSetSecret", "LsarQuerySecret", "LsarLookupPrivilegeValue", "LsarLookupPrivilegeName", "LsarLookupPrivilegeDisplayName", "LsarDeleteObject", "LsarEnumerateAccountsWithUserRight", "LsarEnumerateAccountRights", "LsarAddAccountRights", "LsarRemoveAccountRights", "LsarQueryTrustedDomainInfo", "LsarSetTrustedDomainInfo", "LsarDeleteTrustedDomain", "LsarStorePrivateData", "LsarRetrievePrivateData", "LsarOpenPolicy2", "LsarGetUserName", "LsarQueryInformationPolicy2", "LsarSetInformationPolicy2", "LsarQueryTrustedDomainInfoByName", "LsarSetTrustedDomainInfoByName", "LsarEnumerateTrustedDomainsEx", "LsarCreateTrustedDomainEx", "", "LsarQueryDomainInformationPolicy", "LsarSetDomainInformationPolicy", "LsarOpenTrustedDomainByName", "", "LsarLookupSids2", "LsarLookupNames2", "LsarCreateTrustedDomainEx2", "", "", "", "", "", "", "", "", "LsarLookupNames3", "", "", "", "", "LsarQueryForestTrustInformation", "LsarSetForestTrustInformation", "", "LsarLookupSids3", "LsarLookupNames4"}},
		// MS-NRPC 3.5.4; "" for opnums not used on the wire.
		{MustParseUUID("12345678-1234-abcd-ef00-01234567cffb"), "netlogon", []string{"NetrLogonUasLogon", "NetrLogonUasLogoff", "NetrLogonSamLogon", "NetrLogonSamLogoff", "NetrServerReqChallenge", "NetrServerAuthenticate", "NetrServerPasswordSet", "NetrDatabaseDeltas", "NetrDatabaseSync", "NetrAccountDeltas", "NetrAccountSync", "NetrGetDCName", "NetrLogonControl", "NetrGetAnyDCName", "NetrLogonControl2", "NetrServerAuthenticate2", "NetrDatabaseSync2", "NetrDatabaseRedo", "NetrLogonControl2Ex", "NetrEnumerateTrustedDomains", "DsrGetDcName", "NetrLogonGetCapabilities", "NetrLogonSetServiceBits", "NetrLogonGetTrustRid", "NetrLogonComputeServerDigest", "NetrLogonComputeClientDigest", "NetrServerAuthenticate3", "DsrGetDcNameEx", "DsrGetSiteName", "NetrLogonGetDomainInfo", "NetrServerPasswordSet2", "NetrServerPasswordGet", "NetrLogonSendToSam", "DsrAddressToSiteNamesW", "DsrGetDcNameEx2", "NetrLogonGetTimeServiceParentDomain", "NetrEnumerateTrustedDomainsEx", "DsrAddressToSiteNamesExW", "DsrGetDcSiteCoverageW", "NetrLogonSamLogonEx", "DsrEnumerateDomainTrusts", "DsrDeregisterDnsHostRecords", "NetrServerTrustPasswordsGet", "DsrGetForestTrustInformation", "NetrGetForestTrustInformation", "NetrLogonSamLogonWithFlags", "NetrServerGetTrustInfo"}},
		{MustParseUUID("12345678-1234-abcd-ef00-0123456789ab"), "spoolss", nil},
		// MS-SRVS 3.1.4; "" for opnums not used on the wire.
		{MustParseUUID("4b324fc8-1670-01d3-1278-5a47bf6ee188"), "srvsvc", []string{"", "", "", "", "", "", "", "", "NetrConnectionEnum", "NetrFileEnum", "NetrFileGetInfo", "NetrFileClose", "NetrSessionEnum", "NetrSessionDel", "NetrShareAdd", "NetrShareEnum", "NetrShareGetInfo", "NetrShareSetInfo", "NetrShareDel", "NetrShareDelSticky", "NetrShareCheck", "NetrServerGetInfo", "NetrServerSetInfo", "NetrServerDiskEnum", "NetrServerStatisticsGet", "NetrServerTransportAdd", "NetrServerTransportEnum", "NetrServerTransportDel", "NetrRemoteTOD", "", "NetprPathType", "NetprPathCanonicalize", "NetprPathCompare", "NetprNameValidate", "NetprNameCanonicalize", "NetprNameCompare", "NetrShareEnumSticky", "NetrShareDelStart", "NetrShareDelCommit", "NetrpGetFileSecurity", "NetrpSetFileSecurity", "NetrServerTransportAddEx", "", "NetrDfsGetVersion", "NetrDfsCreateLocalPartition", "NetrDfsDeleteLocalPartition", "NetrDfsSetLocalVolumeState", "", "NetrDfsCreateExitPoint", "NetrDfsDeleteExitPoint", "NetrDfsModifyPrefix", "NetrDfsFixLocalVolume", "NetrDfsManagerReportSiteInfo", "NetrServerTransportDelEx", "NetrServerAliasAdd", "NetrServerAliasEnum", "NetrServerAliasDel", "NetrShareDelEx"}},
		// MS-WKST 3.2.4; "" for opnums not used on the wire.
		{MustParseUUID("6bffd098-a112-3610-9833-46c3f87e345a"), "wkssvc", []string{"NetrWkstaGetInfo", "NetrWkstaSetInfo", "NetrWkstaUserEnum", "", "", "NetrWkstaTransportEnum", "NetrWkstaTransportAdd", "NetrWkstaTransportDel", "NetrUseAdd", "NetrUseGetInfo", "NetrUseDel", "NetrUseEnum", "", "NetrWorkstationStatisticsGet", "", "", "", "", "", "", "NetrGetJoinInformation", "", "NetrJoinDomain2", "NetrUnjoinDomain2", "NetrRenameMachineInDomain2", "NetrValidateName2", "NetrGetJoinableOUs2", "NetrAddAlternateComputerName", "NetrRemoveAlternateComputerName", "NetrSetPrimaryComputerName", "NetrEnumerateComputerNames"}},
		// MS-RRP 3.1.5; "" for opnums not used on the wire.
		{MustParseUUID("338cd001-2244-31f1-aaaa-900038001003"), "winreg", []string{"OpenClassesRoot", "OpenCurrentUser", "OpenLocalMachine", "OpenPerformanceData", "OpenUsers", "BaseRegCloseKey", "BaseRegCreateKey", "BaseRegDeleteKey", "BaseRegDeleteValue", "BaseRegEnumKey", "BaseRegEnumValue", "BaseRegFlushKey", "BaseRegGetKeySecurity", "BaseRegLoadKey", "", "BaseRegOpenKey", "BaseRegQueryInfoKey", "BaseRegQueryValue", "BaseRegReplaceKey", "BaseRegRestoreKey", "BaseRegSaveKey", "BaseRegSetKeySecurity", "BaseRegSetValue", "BaseRegUnLoadKey", "BaseInitiateSystemShutdown", "BaseAbortSystemShutdown", "BaseRegGetVersion", "OpenCurrentConfig", "", "BaseRegQueryMultipleValues", "BaseInitiateSystemShutdownEx", "BaseRegSaveKeyEx", "OpenPerformanceText", "OpenPerformanceNlsText", "BaseRegQueryMultipleValues2", "BaseRegDeleteKeyEx"}},
		{MustParseUUID("367abb81-9844-35f1-ad32-98f038001003"), "svcctl", nil},
		{MustParseUUID("000001a0-0000-0000-c000-000000000046"), "isystemactivator", nil},
		{MustParseUUID("99fcfec4-5260-101b-bbcb-00aa0021347a"), "iobjectexporter", nil},
		{MustParseUUID("00000143-0000-0000-c000-000000000046"), "iremunknown2", nil},
		{MustParseUUID("4d9f4ab8-7d1c-11cf-861e-0020af6e7c57"), "iactivation", nil},
		{MustParseUUID("c681d488-d850-11d0-8c52-00c04fd90f7e"), "efsrpc", nil},
		{MustParseUUID("86d35949-83c9-4044-b424-db363231fd0c"), "itaskschedulerservice", nil},
	} {
		i := i
		known[i.UUID] = &i
	}
}

// LookupInterface returns the well-known interface with that UUID, or nil.
func LookupInterface(u UUID) *Interface { return known[u] }

// InterfaceName returns the short name of an interface, or its UUID string.
func InterfaceName(u UUID) string {
	if i := known[u]; i != nil {
		return i.Name
	}
	return u.String()
}

// OpName returns the name of operation opnum of a well-known interface, or ""
// when nspicap does not know it.
func OpName(u UUID, opnum uint16) string {
	if i := known[u]; i != nil && int(opnum) < len(i.Ops) {
		return i.Ops[opnum]
	}
	return ""
}
