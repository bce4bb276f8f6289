namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>YARP route and cluster settings for a test gateway, as configuration keys.</summary>
public static class ProxyConfig
{
    /// <summary>One route <paramref name="routeId"/> matching <c>/{prefix}/{**rest}</c>, to <paramref name="backend"/>.</summary>
    public static Dictionary<string, string?> Route(
        string routeId,
        string action,
        string prefix,
        string backend,
        string? executePath = null,
        bool passThrough = false,
        Dictionary<string, string?>? into = null)
    {
        var settings = into ?? new Dictionary<string, string?>();
        settings[$"ReverseProxy:Routes:{routeId}:ClusterId"] = routeId;
        settings[$"ReverseProxy:Routes:{routeId}:Match:Path"] = $"/{prefix}/{{**rest}}";
        if (passThrough)
        {
            settings[$"ReverseProxy:Routes:{routeId}:Metadata:OpenExec.PassThrough"] = "true";
        }
        else
        {
            settings[$"ReverseProxy:Routes:{routeId}:Metadata:OpenExec.Action"] = action;
        }
        if (executePath is not null)
        {
            settings[$"ReverseProxy:Routes:{routeId}:Metadata:OpenExec.ExecutePath"] = executePath;
        }
        settings[$"ReverseProxy:Clusters:{routeId}:Destinations:d1:Address"] = backend;
        return settings;
    }
}
