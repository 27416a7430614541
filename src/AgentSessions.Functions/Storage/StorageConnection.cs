using System.Text.RegularExpressions;
using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Storage;

/// <summary>
/// The app's storage account read from <c>AzureWebJobsStorage</c> the way the Functions host reads it: a connection
/// string, or an identity-based connection (<c>AzureWebJobsStorage__accountName</c> or <c>__tableServiceUri</c>, with
/// <c>__credential=managedidentity</c> and <c>__clientId</c> for a user-assigned identity), as infra/ deploys it.
/// </summary>
public static partial class StorageConnection
{
    public const string SettingName = "AzureWebJobsStorage";

    public static TableServiceClient CreateTableServiceClient(IConfiguration configuration, TableClientOptions? options = null)
    {
        var connectionString = configuration[SettingName];
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            return new TableServiceClient(connectionString, options);
        }

        var section = configuration.GetSection(SettingName);
        return new TableServiceClient(TableServiceUri(section), Credential(section), options);
    }

    private static Uri TableServiceUri(IConfigurationSection section)
    {
        if (section["tableServiceUri"] is { Length: > 0 } text)
        {
            return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http"
                ? uri
                : throw new InvalidOperationException($"Setting {SettingName}__tableServiceUri is not an absolute http(s) URL.");
        }

        if (section["accountName"] is { Length: > 0 } account)
        {
            return AccountName().IsMatch(account)
                ? new Uri($"https://{account}.table.core.windows.net")
                : throw new InvalidOperationException($"Setting {SettingName}__accountName is not a storage account name (3-24 lowercase letters and digits).");
        }

        throw new InvalidOperationException(
            $"Setting {SettingName} is empty; set it to a storage connection string (UseDevelopmentStorage=true for Azurite) " +
            $"or use an identity-based connection ({SettingName}__accountName, {SettingName}__credential, {SettingName}__clientId).");
    }

    private static TokenCredential Credential(IConfigurationSection section)
    {
        if (!string.Equals(section["credential"], "managedidentity", StringComparison.OrdinalIgnoreCase))
        {
            // Local development against a real account: the developer's own sign-in, as the Functions host does.
            return new DefaultAzureCredential();
        }

        return new ManagedIdentityCredential(section["clientId"] is { Length: > 0 } clientId
            ? ManagedIdentityId.FromUserAssignedClientId(clientId)
            : ManagedIdentityId.SystemAssigned);
    }

    [GeneratedRegex("^[a-z0-9]{3,24}$")]
    private static partial Regex AccountName();
}
